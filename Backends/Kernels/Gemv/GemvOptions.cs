using System.Runtime.Intrinsics.X86;

namespace Ternion.Backends.Kernels;

/// <summary>Which code path a kernel runs; tests force each one to check they agree.</summary>
public enum GemvIsa
{
    /// <summary>The fastest path this CPU supports.</summary>
    Auto,
    /// <summary>Plain C#: the path for CPUs without AVX2, and the baseline the vector paths are checked against.</summary>
    Scalar,
    /// <summary>256-bit AVX2 (and FMA for float32). Throws on a CPU without it.</summary>
    Avx2,
    /// <summary>512-bit AVX-512 with VBMI (vpermb, vpermi2b) and BW. Throws on a CPU without it.</summary>
    Avx512,
}

/// <summary>How a matrix-vector product runs.</summary>
/// <param name="Threads">Threads sharing the output rows (contiguous ranges); 0 or 1 runs on the calling thread only.</param>
/// <param name="Isa">Code path; <see cref="GemvIsa.Auto"/> picks the fastest available.</param>
public readonly record struct GemvOptions(int Threads = 1, GemvIsa Isa = GemvIsa.Auto)
{
    /// <summary>True when the AVX2 paths can run here (float32 also needs FMA, which every AVX2 CPU we target has).</summary>
    public static bool Avx2Available => Avx2.IsSupported && Fma.IsSupported;

    /// <summary>True when the AVX-512 VBMI paths can run here (Zen 4, Ice Lake and later).</summary>
    public static bool Avx512Available => Avx2Available && Avx512F.IsSupported && Avx512BW.IsSupported && Avx512Vbmi.IsSupported;

    /// <summary>
    /// The fastest path this CPU has, or a slower one when the environment variable
    /// <c>TERNION_ISA</c> (scalar, avx2, avx512) asks for it: how benchmarks and users time the
    /// AVX2 and scalar paths of a model on an AVX-512 machine. A request above what the CPU has
    /// gets the best it has.
    /// </summary>
    public static GemvIsa Best { get; } = Cap(Avx512Available ? GemvIsa.Avx512 : Avx2Available ? GemvIsa.Avx2 : GemvIsa.Scalar,
        Environment.GetEnvironmentVariable("TERNION_ISA"));

    /// <summary>The ceiling TERNION_ISA sets, if any.</summary>
    public static GemvIsa? Requested { get; } = Parse(Environment.GetEnvironmentVariable("TERNION_ISA"));

    private static GemvIsa? Parse(string? text) => text?.Trim().ToLowerInvariant() switch
    {
        "scalar" => GemvIsa.Scalar,
        "avx2" => GemvIsa.Avx2,
        "avx512" => GemvIsa.Avx512,
        _ => null,
    };

    private static GemvIsa Cap(GemvIsa best, string? requested) => Parse(requested) is { } r && r < best ? r : best;

    /// <summary>The paths this CPU can run, slowest first: what tests force one by one.</summary>
    public static IReadOnlyList<GemvIsa> Available =>
        [GemvIsa.Scalar, .. Avx2Available ? [GemvIsa.Avx2] : Array.Empty<GemvIsa>(), .. Avx512Available ? [GemvIsa.Avx512] : Array.Empty<GemvIsa>()];

    internal GemvIsa Resolve() => Resolve(Isa);

    internal static GemvIsa Resolve(GemvIsa isa) => isa switch
    {
        GemvIsa.Auto => Best,
        GemvIsa.Avx2 when !Avx2Available => throw new PlatformNotSupportedException("AVX2 and FMA are not available on this CPU"),
        GemvIsa.Avx512 when !Avx512Available => throw new PlatformNotSupportedException("AVX-512 with VBMI is not available on this CPU"),
        GemvIsa.Scalar or GemvIsa.Avx2 or GemvIsa.Avx512 => isa,
        _ => throw new ArgumentOutOfRangeException(nameof(isa), isa, "unknown instruction set"),
    };

    internal int ResolveThreads() => Threads < 0
        ? throw new ArgumentOutOfRangeException(nameof(Threads), Threads, "thread count must not be negative")
        : Math.Max(1, Threads);
}
