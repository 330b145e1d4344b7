using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Ternion.Backends.Kernels;

/// <summary>
/// The dense reference point: y = W x with float32 weights [rows, k] (row-major, each row one
/// output) and float32 activations, as plain SIMD dot products. 16 times the bytes of 2-bit
/// weights, so it shows what the memory system does with no decoding at all.
/// </summary>
public static unsafe class Float32Gemv
{
    public static void Multiply(ReadOnlySpan<float> weights, int rows, int k, ReadOnlySpan<float> x, Span<float> y, GemvOptions options = default)
    {
        if (rows < 0 || k < 0) throw new ArgumentException($"{rows} x {k}: negative dimension");
        if (weights.Length != (long)rows * k)
            throw new ArgumentException($"weights: {weights.Length} values, not {rows} x {k}", nameof(weights));
        if (x.Length != k) throw new ArgumentException($"x: {x.Length} values, the matrix has K = {k}", nameof(x));
        KernelSupport.CheckOutput(y.Length, rows, nameof(y));
        var isa = options.Resolve();
        int threads = options.ResolveThreads();
        fixed (float* w = weights)
        fixed (float* xp = x)
        fixed (float* yp = y)
        {
            nint wp = (nint)w, xq = (nint)xp, yq = (nint)yp;
            KernelSupport.SplitRows(rows, threads, (first, end) =>
            {
                for (int m = first; m < end; m++)
                {
                    float* row = (float*)wp + (long)m * k;
                    ((float*)yq)[m] = isa switch
                    {
                        GemvIsa.Avx512 => DotAvx512(row, (float*)xq, k),
                        GemvIsa.Avx2 => DotAvx2(row, (float*)xq, k),
                        _ => DotScalar(row, (float*)xq, k),
                    };
                }
            });
        }
    }

    private static float DotScalar(float* w, float* x, int k)
    {
        float sum = 0;
        for (int i = 0; i < k; i++) sum += w[i] * x[i];
        return sum;
    }

    /// <summary>Four independent 8-wide FMA chains: one chain would wait on the FMA latency every step.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static float DotAvx2(float* w, float* x, int k)
    {
        var s0 = Vector256<float>.Zero; var s1 = s0; var s2 = s0; var s3 = s0;
        int i = 0;
        for (; i + 32 <= k; i += 32)
        {
            s0 = Fma.MultiplyAdd(Avx.LoadVector256(w + i), Avx.LoadVector256(x + i), s0);
            s1 = Fma.MultiplyAdd(Avx.LoadVector256(w + i + 8), Avx.LoadVector256(x + i + 8), s1);
            s2 = Fma.MultiplyAdd(Avx.LoadVector256(w + i + 16), Avx.LoadVector256(x + i + 16), s2);
            s3 = Fma.MultiplyAdd(Avx.LoadVector256(w + i + 24), Avx.LoadVector256(x + i + 24), s3);
        }
        for (; i + 8 <= k; i += 8)
            s0 = Fma.MultiplyAdd(Avx.LoadVector256(w + i), Avx.LoadVector256(x + i), s0);
        float sum = Vector256.Sum(Avx.Add(Avx.Add(s0, s1), Avx.Add(s2, s3)));
        for (; i < k; i++) sum += w[i] * x[i];
        return sum;
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static float DotAvx512(float* w, float* x, int k)
    {
        var s0 = Vector512<float>.Zero; var s1 = s0; var s2 = s0; var s3 = s0;
        int i = 0;
        for (; i + 64 <= k; i += 64)
        {
            s0 = Avx512F.FusedMultiplyAdd(Vector512.Load(w + i), Vector512.Load(x + i), s0);
            s1 = Avx512F.FusedMultiplyAdd(Vector512.Load(w + i + 16), Vector512.Load(x + i + 16), s1);
            s2 = Avx512F.FusedMultiplyAdd(Vector512.Load(w + i + 32), Vector512.Load(x + i + 32), s2);
            s3 = Avx512F.FusedMultiplyAdd(Vector512.Load(w + i + 48), Vector512.Load(x + i + 48), s3);
        }
        for (; i + 16 <= k; i += 16)
            s0 = Avx512F.FusedMultiplyAdd(Vector512.Load(w + i), Vector512.Load(x + i), s0);
        float sum = Vector512.Sum((s0 + s1) + (s2 + s3));
        for (; i < k; i++) sum += w[i] * x[i];
        return sum;
    }
}
