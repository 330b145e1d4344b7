using Ternion.IR.Ternary;

namespace Ternion.Backends.Kernels;

/// <summary>
/// Matrix-vector product straight from TTF1 packed weights (5 trits per byte, spec:
/// shared/design/ternary-format.md), decoding in the data path, with int8 activations:
/// <c>y[n] = scale[n or 0] * x.Scale * sum_k t[n,k] * x.Values[k]</c>.
/// The packed tensor is uint8 [M, RowBytes] as a <see cref="TernaryLayout"/> describes it (any axis:
/// row m holds the K trits of output channel m); M = rows of y.
/// </summary>
/// <remarks>
/// <para>Three paths, chosen at run time (<see cref="GemvOptions.Best"/>): AVX-512 VBMI
/// (<see cref="Avx512Digits"/>: ten table and min ops per 64 bytes), AVX2 (below) and scalar; the
/// loops are <see cref="TernaryRowKernels"/>, shared with the ONNX Runtime operators.</para>
/// <para>The AVX2 path never forms trits. It splits each byte b = 16h + l and, with 16-entry
/// <c>vpshufb</c> tables indexed by h, writes b = 9 a + s with a = floor(16h / 9) and
/// s = (16h mod 9) + l in 0..23; two compares give the carry floor(s / 9), so n = b mod 9
/// (digits 0 and 1) and Q = floor(b / 9) = a + carry (digits 2, 3, 4) come out without a
/// multiply, and each digit d = t + 1 in {0, 1, 2} is one more table lookup. Digits are unsigned, so <c>vpmaddubsw</c> multiplies them
/// by signed activations directly; one <c>- sum(x)</c> per row turns sum(d x) into sum(t x).
/// The activations are reordered once per call so that digit plane i of a 32-byte chunk lines
/// up with elements 5p + i (see <see cref="Reorder"/>), which is what lets every weight byte stay
/// in place. Padding trits are zeros (d = 1) and meet activations of 0, so they add nothing.</para>
/// <para>Weights must be valid TTF1: a reserved byte (243..255) gives an unspecified (but memory-safe)
/// result; check untrusted data with <see cref="TernaryCodec.Validate"/> once, not per product.</para>
/// </remarks>
public static unsafe class TernaryGemv
{
    /// <summary>Quantizes <paramref name="x"/> (see <see cref="Int8Vector"/>) and multiplies.</summary>
    public static void Multiply(ReadOnlySpan<byte> packed, TernaryLayout layout, ReadOnlySpan<float> scales,
        ReadOnlySpan<float> x, Span<float> y, GemvOptions options = default) =>
        Multiply(packed, layout, scales, Int8Vector.Quantize(x), y, options);

    /// <summary>y[m] = (float)(sum_k t[m,k] q[k]) * (scale[m or 0] * x.Scale).</summary>
    public static void Multiply(ReadOnlySpan<byte> packed, TernaryLayout layout, ReadOnlySpan<float> scales,
        Int8Vector x, Span<float> y, GemvOptions options = default)
    {
        Check(packed, layout, x);
        KernelSupport.CheckScales(scales.Length, (int)layout.M);
        KernelSupport.CheckOutput(y.Length, (int)layout.M, nameof(y));
        fixed (byte* w = packed)
        fixed (float* s = scales)
        fixed (float* yp = y)
            Run(w, layout, x, null, yp, s, scales.Length, options);
    }

    /// <summary>The exact integer products sum_k t[m,k] q[k], one per row: what the float result is scaled from.</summary>
    public static void Dot(ReadOnlySpan<byte> packed, TernaryLayout layout, Int8Vector x, Span<int> dots, GemvOptions options = default)
    {
        Check(packed, layout, x);
        KernelSupport.CheckOutput(dots.Length, (int)layout.M, nameof(dots));
        fixed (byte* w = packed)
        fixed (int* d = dots)
            Run(w, layout, x, d, null, null, 0, options);
    }

    private static void Check(ReadOnlySpan<byte> packed, TernaryLayout layout, Int8Vector x)
    {
        layout.Validate();
        ArgumentNullException.ThrowIfNull(x);
        if (packed.Length != layout.PackedBytes)
            throw new ArgumentException($"packed: {packed.Length} bytes, layout {layout} needs {layout.PackedBytes}", nameof(packed));
        if (x.Length != layout.K)
            throw new ArgumentException($"x: {x.Length} values, the matrix has K = {layout.K}", nameof(x));
        KernelSupport.CheckK(layout.K);
        if (layout.M > int.MaxValue) throw new ArgumentException($"layout {layout}: too many rows");
    }

    private static void Run(byte* w, TernaryLayout layout, Int8Vector x, int* dots, float* y, float* scales, int scaleCount, GemvOptions options)
    {
        var isa = options.Resolve();
        int rows = (int)layout.M, rowBytes = (int)layout.RowBytes;
        int threads = options.ResolveThreads();
        float xScale = x.Scale;
        var xs = (sbyte*)KernelSupport.Scratch(rowBytes * 5);
        PlaneOrder.Permute(x.Values, rowBytes, PlaneOrder.ChunkBytes(isa), xs);
        int xSum = x.Sum;
        nint wp = (nint)w, xp = (nint)xs, dp = (nint)dots, yp = (nint)y, sp = (nint)scales;
        KernelSupport.SplitRows(rows, threads, (first, end) =>
        {
            // The whole range in one call: the kernel pairs rows from its two halves, two long
            // ascending streams that the prefetchers follow (short blocks would restart them).
            int* block = (int*)KernelSupport.Scratch(2, (long)(end - first) * sizeof(int));
            TernaryRowKernels.Int8(isa, (byte*)wp, rowBytes, first, end, (sbyte*)xp, xSum, block);
            for (int m = first; m < end; m++)
            {
                int dot = block[m - first];
                if (dp != 0) ((int*)dp)[m] = dot;
                if (yp != 0) ((float*)yp)[m] = dot * (((float*)sp)[scaleCount == 1 ? 0 : m] * xScale);
            }
        });
    }

    /// <summary>
    /// Lays activations out for the AVX2 path (<see cref="PlaneOrder"/> with 32-byte chunks): per
    /// chunk c of a row (160 trits), five planes of 32 bytes, plane i holding element 160 c + 5 p + i
    /// at byte p. Elements past K (padding) are 0.
    /// </summary>
    internal static void Reorder(ReadOnlySpan<sbyte> q, int rowBytes, sbyte* dst) => PlaneOrder.Permute(q, rowBytes, 32, dst);
}
