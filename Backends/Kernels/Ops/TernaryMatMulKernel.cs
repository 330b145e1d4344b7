using System.Runtime.InteropServices;
using Ternion.IR;
using Ternion.IR.Ternary;

namespace Ternion.Backends.Kernels.Ops;

/// <summary>
/// BitNet's activation quantization, as the model computes it in float32 before a MatMul:
/// <c>s = QuantMax / max(max_k |x_k|, Eps)</c>, <c>q_k = clip(round_half_even(x_k * s), ClipMin, ClipMax)</c>,
/// and the MatMul then multiplies <c>q / s</c>. The fused operator reproduces q and s bit for bit
/// and multiplies the integers exactly.
/// </summary>
public sealed record AbsmaxInt8Quantization
{
    public float QuantMax { get; }
    public float Eps { get; }
    public int ClipMin { get; }
    public int ClipMax { get; }

    public AbsmaxInt8Quantization(float quantMax, float eps, long clipMin, long clipMax)
    {
        if (!float.IsFinite(quantMax) || quantMax <= 0) throw new TernionException($"{TernaryOps.AttrQuantMax} {quantMax} is not a positive finite number");
        if (!float.IsFinite(eps) || eps <= 0) throw new TernionException($"{TernaryOps.AttrQuantEps} {eps} is not a positive finite number");
        if (clipMin < sbyte.MinValue || clipMax > sbyte.MaxValue || clipMin > clipMax)
            throw new TernionException($"clip range [{clipMin}, {clipMax}] is not inside the int8 range [-128, 127]");
        (QuantMax, Eps, ClipMin, ClipMax) = (quantMax, eps, (int)clipMin, (int)clipMax);
    }

    /// <summary>
    /// Quantizes one token. Returns false (and leaves q unspecified) when an activation is NaN or
    /// infinite: the model's own arithmetic then yields NaN for every output of the token.
    /// </summary>
    public bool Quantize(ReadOnlySpan<float> x, Span<sbyte> q, out float scale, out int sum)
    {
        float max = 0;
        bool finite = true;
        foreach (float v in x)
        {
            finite &= float.IsFinite(v);
            max = Math.Max(max, Math.Abs(v));
        }
        scale = QuantMax / (max < Eps ? Eps : max);
        sum = 0;
        if (!finite) return false;
        float lo = ClipMin, hi = ClipMax;
        for (int i = 0; i < x.Length; i++)
        {
            float r = MathF.Round(x[i] * scale, MidpointRounding.ToEven);
            int v = (int)(r < lo ? lo : r > hi ? hi : r);
            q[i] = (sbyte)v;
            sum += v;
        }
        return true;
    }
}

/// <summary>
/// The compute of com.ternion::TernaryMatMul and TernaryMatMulAbsmaxInt8: <c>Y = X W (+ bias)</c>
/// for X [..., K] and the [K, N] weight W whose TTF1 rows (one per output n, packed along K)
/// are [N, RowBytes] with scale [] or [N]. W is never formed: one token (decode) runs the
/// matrix-vector kernels straight from the packed bytes; more tokens (prefill) decode a tile of
/// rows at a time into L2 and multiply it with every token. Work is split over output rows.
/// </summary>
public sealed unsafe class TernaryMatMulKernel
{
    /// <summary>Up to this many tokens the matrix-vector path is faster than decoding tiles.</summary>
    internal const int MaxGemvTokens = 3;
    private const int TileRows = 64;
    private const int FloatBlockBytes = 128;
    private const int Int8BlockBytes = 384;

    public long K { get; }
    public long N { get; }
    public TernaryLayout Layout { get; }
    public AbsmaxInt8Quantization? Quantization { get; }
    public GemvIsa Isa { get; }

    private readonly int _rowBytes;

    public TernaryMatMulKernel(long k, long n, long blockSize, AbsmaxInt8Quantization? quantization = null, GemvIsa isa = GemvIsa.Auto)
    {
        if (k < 1 || k > KernelSupport.MaxK) throw new TernionException($"K = {k} is outside 1..{KernelSupport.MaxK}");
        if (n < 1 || n > int.MaxValue / 2) throw new TernionException($"N = {n} is outside 1..{int.MaxValue / 2}");
        if (blockSize is not (TernaryLayout.DefaultBlockSize or TernaryLayout.LargeBlockSize))
            throw new TernionException($"block_size {blockSize} is not 320 or 640");
        K = k;
        N = n;
        Layout = TernaryLayout.Matrix(n, k, (int)blockSize);
        Quantization = quantization;
        Isa = GemvOptions.Resolve(isa);
        _rowBytes = (int)Layout.RowBytes;
    }

    public static bool IsActivationType(TensorElementType t) => t is TensorElementType.Float or TensorElementType.Float16;

    /// <summary>Throws a <see cref="TernionException"/> naming the input unless every shape and type fits the attributes.</summary>
    public void CheckInputs(long[] xDims, TensorElementType xType, string xName,
        long[] packedDims, TensorElementType packedType, string packedName,
        long[] scaleDims, TensorElementType scaleType, string scaleName,
        long[]? biasDims, TensorElementType biasType, string biasName)
    {
        if (!IsActivationType(xType)) throw new TernionException($"input '{xName}' is {xType}; float32 and float16 activations are supported");
        if (xDims.Length == 0 || xDims[^1] != K)
            throw new TernionException($"input '{xName}' is [{string.Join(",", xDims)}]; its last dimension must be K = {K}");
        if (packedType != TensorElementType.UInt8) throw new TernionException($"packed input '{packedName}' is {packedType}, not uint8");
        if (packedDims.Length != 2 || packedDims[0] != N || packedDims[1] != _rowBytes)
            throw new TernionException($"packed input '{packedName}' is [{string.Join(",", packedDims)}] but K = {K}, N = {N} with block {Layout.BlockSize} needs [{N},{_rowBytes}]");
        if (scaleType != xType) throw new TernionException($"scale '{scaleName}' is {scaleType} but the activations are {xType}");
        if (!(scaleDims.Length == 0 || scaleDims.Length == 1 && scaleDims[0] == N))
            throw new TernionException($"scale '{scaleName}' is [{string.Join(",", scaleDims)}]; it must be [] or [{N}]");
        if (biasDims is not null)
        {
            if (biasType != xType) throw new TernionException($"bias '{biasName}' is {biasType} but the activations are {xType}");
            if (biasDims.Length != 1 || biasDims[0] != N) throw new TernionException($"bias '{biasName}' is [{string.Join(",", biasDims)}]; it must be [{N}]");
        }
    }

    public long[] OutputDims(long[] xDims) => [.. xDims[..^1], N];

    /// <summary>Throws naming the input and the byte offset if a packed byte is reserved (243..255).</summary>
    public void CheckBytes(ReadOnlySpan<byte> packed, string packedName)
    {
        fixed (byte* p = packed)
        {
            long at = TernaryKernels.FirstReserved(TernaryKernels.Resolve(TernaryKernel.Auto), p, packed.Length);
            if (at >= 0) throw new TernionException(TernaryCore.ReservedMessage(packedName, at, p[at], Layout));
        }
    }

    /// <summary>float32: y [tokens, N] from x [tokens, K]; scale holds 1 or N values, bias N or none.</summary>
    public void Run(float* x, long tokens, byte* packed, float* scale, int scaleCount, float* bias, float* y, IParallelRunner runner)
    {
        if (tokens <= 0) return;
        if (tokens > int.MaxValue / 2) throw new TernionException($"{tokens:N0} tokens is more than this kernel takes");
        if (Quantization is null) RunFloat(x, (int)tokens, packed, scale, scaleCount, bias, y, runner);
        else RunInt8(x, (int)tokens, packed, scale, scaleCount, bias, y, runner);
    }

    /// <summary>float16: converted to float32 on the way in and out; the arithmetic is float32.</summary>
    public void Run(Half* x, long tokens, byte* packed, Half* scale, int scaleCount, Half* bias, Half* y, IParallelRunner runner)
    {
        if (tokens <= 0) return;
        long xCount = tokens * K, yCount = tokens * N;
        var buffer = (float*)NativeMemory.AlignedAlloc((nuint)((xCount + yCount + N + scaleCount) * sizeof(float)), 64);
        try
        {
            float* xf = buffer, yf = xf + xCount, bf = yf + yCount, sf = bf + N;
            Widen(x, xf, xCount);
            Widen(scale, sf, scaleCount);
            if (bias != null) Widen(bias, bf, N);
            Run(xf, tokens, packed, sf, scaleCount, bias == null ? null : bf, yf, runner);
            for (long i = 0; i < yCount; i++) y[i] = (Half)yf[i];
        }
        finally
        {
            NativeMemory.AlignedFree(buffer);
        }

        static void Widen(Half* from, float* to, long count)
        {
            for (long i = 0; i < count; i++) to[i] = (float)from[i];
        }
    }

    // ------------------------------------------------------------------ float activations

    private void RunFloat(float* x, int tokens, byte* packed, float* scale, int scaleCount, float* bias, float* y, IParallelRunner runner)
    {
        int kpad = _rowBytes * 5, n = (int)N, k = (int)K;
        var isa = Isa;
        int chunk = PlaneOrder.ChunkBytes(isa);
        var planes = (float*)NativeMemory.AlignedAlloc((nuint)((long)tokens * kpad * sizeof(float)), 64);
        try
        {
            for (int t = 0; t < tokens; t++)
            {
                var xt = new ReadOnlySpan<float>(x + (long)t * k, k);
                if (isa == GemvIsa.Avx512) PlaneOrder.PermuteFloatAvx512(xt, _rowBytes, planes + (long)t * kpad);
                else if (isa == GemvIsa.Avx2) PlaneOrder.PermuteFloatAvx2(xt, _rowBytes, planes + (long)t * kpad);
                else PlaneOrder.Permute(xt, _rowBytes, chunk, planes + (long)t * kpad);
            }
            nint w = (nint)packed, xp = (nint)planes, sp = (nint)scale, bp = (nint)bias, yp = (nint)y;
            int rowBytes = _rowBytes;
            if (tokens <= MaxGemvTokens)
            {
                int per = GemvRowsPerItem(n, runner.Degree);
                runner.For((n + per - 1) / per, item =>
                {
                    int m0 = item * per, m1 = Math.Min(n, m0 + per);
                    float* sums = (float*)KernelSupport.Scratch(0, (long)per * sizeof(float));
                    for (int t = 0; t < tokens; t++)
                    {
                        TernaryRowKernels.Float(isa, (byte*)w, rowBytes, m0, m1, (float*)xp + (long)t * kpad, sums);
                        Store(sums, m0, m1, t);
                    }
                });
            }
            else
            {
                runner.For((n + TileRows - 1) / TileRows, item =>
                {
                    int m0 = item * TileRows, rows = Math.Min(TileRows, n - m0);
                    float* acc = (float*)KernelSupport.Scratch(0, (long)tokens * TileRows * sizeof(float));
                    float* tile = (float*)KernelSupport.Scratch(1, (long)TileRows * FloatBlockBytes * 5 * sizeof(float));
                    new Span<float>(acc, tokens * TileRows).Clear();
                    for (int from = 0; from < rowBytes; from += FloatBlockBytes)
                    {
                        int bytes = Math.Min(FloatBlockBytes, rowBytes - from);
                        TernaryTileKernels.DecodeFloat(isa, (byte*)w + (long)m0 * rowBytes, rowBytes, rows, from, bytes, tile);
                        TernaryTileKernels.MultiplyFloat(isa, tile, rows, bytes * 5, (float*)xp + from * 5, kpad, tokens, acc, TileRows);
                    }
                    for (int t = 0; t < tokens; t++) Store(acc + t * TileRows, m0, m0 + rows, t);
                });
            }

            void Store(float* sums, int m0, int m1, int t)
            {
                float* yt = (float*)yp + (long)t * n;
                float* s = (float*)sp, b = (float*)bp;
                for (int m = m0; m < m1; m++)
                {
                    float v = sums[m - m0] * s[scaleCount == 1 ? 0 : m];
                    yt[m] = b == null ? v : v + b[m];
                }
            }
        }
        finally
        {
            NativeMemory.AlignedFree(planes);
        }
    }

    /// <summary>Rows per work item of the matrix-vector path: a few items per thread (a slow thread holds up less), even counts, at least 16 rows.</summary>
    private static int GemvRowsPerItem(int n, int degree)
    {
        int items = Math.Max(1, degree) * 4;
        int per = (n + items - 1) / items;
        per = Math.Max(16, (per + 15) & ~15);
        return per;
    }

    // ------------------------------------------------------------------ int8 activations

    private void RunInt8(float* x, int tokens, byte* packed, float* scale, int scaleCount, float* bias, float* y, IParallelRunner runner)
    {
        var quant = Quantization!;
        int kpad = _rowBytes * 5, n = (int)N, k = (int)K;
        var isa = Isa;
        int chunk = PlaneOrder.ChunkBytes(isa);
        long planeBytes = (long)tokens * kpad;
        var block = (byte*)NativeMemory.AlignedAlloc((nuint)(planeBytes + k + (long)tokens * (sizeof(float) + 2 * sizeof(int))), 64);
        try
        {
            sbyte* planes = (sbyte*)block, q = planes + planeBytes;
            float* xScales = (float*)(q + k);
            int* xSums = (int*)(xScales + tokens);
            int* finite = xSums + tokens;
            for (int t = 0; t < tokens; t++)
            {
                bool ok = quant.Quantize(new ReadOnlySpan<float>(x + (long)t * k, k), new Span<sbyte>(q, k), out xScales[t], out xSums[t]);
                finite[t] = ok ? 1 : 0;
                if (!ok) new Span<sbyte>(q, k).Clear();
                PlaneOrder.Permute(new ReadOnlySpan<sbyte>(q, k), _rowBytes, chunk, planes + (long)t * kpad);
            }
            nint w = (nint)packed, xp = (nint)planes, sp = (nint)scale, bp = (nint)bias, yp = (nint)y, xsp = (nint)xScales, xsum = (nint)xSums, fin = (nint)finite;
            int rowBytes = _rowBytes;
            if (tokens <= MaxGemvTokens)
            {
                int per = GemvRowsPerItem(n, runner.Degree);
                runner.For((n + per - 1) / per, item =>
                {
                    int m0 = item * per, m1 = Math.Min(n, m0 + per);
                    int* dots = (int*)KernelSupport.Scratch(0, (long)per * sizeof(int));
                    for (int t = 0; t < tokens; t++)
                    {
                        TernaryRowKernels.Int8(isa, (byte*)w, rowBytes, m0, m1, (sbyte*)xp + (long)t * kpad, ((int*)xsum)[t], dots);
                        Store(dots, 0, m0, m1, t);
                    }
                });
            }
            else
            {
                runner.For((n + TileRows - 1) / TileRows, item =>
                {
                    int m0 = item * TileRows, rows = Math.Min(TileRows, n - m0);
                    int* acc = (int*)KernelSupport.Scratch(0, (long)tokens * TileRows * sizeof(int));
                    byte* tile = KernelSupport.Scratch(1, (long)TileRows * Int8BlockBytes * 5);
                    new Span<int>(acc, tokens * TileRows).Clear();
                    for (int from = 0; from < rowBytes; from += Int8BlockBytes)
                    {
                        int bytes = Math.Min(Int8BlockBytes, rowBytes - from);
                        TernaryTileKernels.DecodeDigits(isa, (byte*)w + (long)m0 * rowBytes, rowBytes, rows, from, bytes, tile);
                        TernaryTileKernels.MultiplyInt8(isa, tile, rows, bytes * 5, (sbyte*)xp + from * 5, kpad, tokens, acc, TileRows);
                    }
                    for (int t = 0; t < tokens; t++) Store(acc + t * TileRows, ((int*)xsum)[t], m0, m0 + rows, t);
                });
            }

            // The model multiplies q / s by t * w; the integer sum is exact, so only this product rounds.
            void Store(int* dots, int minus, int m0, int m1, int t)
            {
                float* yt = (float*)yp + (long)t * n;
                float* s = (float*)sp, b = (float*)bp;
                double inv = 1.0 / ((float*)xsp)[t];
                bool ok = ((int*)fin)[t] != 0;
                for (int m = m0; m < m1; m++)
                {
                    float v = ok ? (float)((dots[m - m0] - minus) * (double)s[scaleCount == 1 ? 0 : m] * inv) : float.NaN;
                    yt[m] = b == null ? v : v + b[m];
                }
            }
        }
        finally
        {
            NativeMemory.AlignedFree(block);
        }
    }
}
