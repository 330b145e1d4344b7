using System.Runtime.Intrinsics.X86;

namespace Ternion.Backends.Kernels;

/// <summary>Which code path a matrix-vector kernel runs; tests force each one to check they agree.</summary>
public enum GemvIsa
{
    /// <summary>The fastest path this CPU supports.</summary>
    Auto,
    /// <summary>Plain C#: the path for CPUs without AVX2, and the baseline the vector path is checked against.</summary>
    Scalar,
    /// <summary>256-bit AVX2 (and FMA for float32). Throws on a CPU without it.</summary>
    Avx2,
}

/// <summary>How a matrix-vector product runs.</summary>
/// <param name="Threads">Threads sharing the output rows (contiguous ranges); 0 or 1 runs on the calling thread only.</param>
/// <param name="Isa">Code path; <see cref="GemvIsa.Auto"/> picks the fastest available.</param>
public readonly record struct GemvOptions(int Threads = 1, GemvIsa Isa = GemvIsa.Auto)
{
    /// <summary>True when the AVX2 paths can run here (float32 also needs FMA, which every AVX2 CPU we target has).</summary>
    public static bool Avx2Available => Avx2.IsSupported && Fma.IsSupported;

    internal GemvIsa Resolve() => Isa switch
    {
        GemvIsa.Auto => Avx2Available ? GemvIsa.Avx2 : GemvIsa.Scalar,
        GemvIsa.Avx2 when !Avx2Available => throw new PlatformNotSupportedException("AVX2 and FMA are not available on this CPU"),
        GemvIsa.Scalar or GemvIsa.Avx2 => Isa,
        _ => throw new ArgumentOutOfRangeException(nameof(Isa), Isa, "unknown instruction set"),
    };

    internal int ResolveThreads() => Threads < 0
        ? throw new ArgumentOutOfRangeException(nameof(Threads), Threads, "thread count must not be negative")
        : Math.Max(1, Threads);
}
