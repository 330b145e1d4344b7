using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using Ternion.IR.Ternary;

namespace Ternion.Backends.Kernels;

/// <summary>
/// The pieces of the matrix-matrix products (prefill: many tokens through one weight): a tile of
/// rows is decoded once into a small buffer that stays in L2 (floats t for float activations,
/// digits d for int8 ones), in <see cref="PlaneOrder"/>, then multiplied with every token's
/// activations in the same order by register-blocked micro-kernels. Decoding cost is then shared
/// by all tokens and the products run at the speed of FMA (float) or vpmaddubsw (int8).
/// </summary>
internal static unsafe class TernaryTileKernels
{
    // The micro-kernels are NoInlining for the reason given in TernaryRowKernels: inlined into their
    // dispatchers by a tier-up with profile data, a kernel's steady state could run far slower.

    // ------------------------------------------------------------------ decode a tile

    /// <summary>
    /// Rows [0, rows) of <paramref name="w"/>, bytes [from, from + bytes) of each, as float trits:
    /// tile[r * bytes * 5 + j] in the order the float activations use (<see cref="PlaneOrder"/>;
    /// on AVX-512 and AVX2 <see cref="PlaneOrder.PermuteFloatAvx512"/> and <see cref="PlaneOrder.PermuteFloatAvx2"/>). <paramref name="from"/> and <paramref name="bytes"/> are multiples of 64.
    /// </summary>
    public static void DecodeFloat(GemvIsa isa, byte* w, int rowBytes, int rows, int from, int bytes, float* tile)
    {
        int len = bytes * 5;
        for (int r = 0; r < rows; r++)
        {
            byte* src = w + (long)r * rowBytes + from;
            float* dst = tile + (long)r * len;
            switch (isa)
            {
                case GemvIsa.Avx512:
                {
                    // The same widening as the matrix-vector kernel (vpshufb of float top bytes), in its activation order.
                    var (lo0, hi0, lo1, hi1, lo2, hi2, lo3, hi3, top) = Avx512Digits.HalfFloatTop.Load();
                    var c81 = Vector512.Create((byte)81);
                    var e0 = TernaryRowKernels.FloatExpand(0); var e1 = TernaryRowKernels.FloatExpand(1);
                    var e2 = TernaryRowKernels.FloatExpand(2); var e3 = TernaryRowKernels.FloatExpand(3);
                    for (int c = 0; c < bytes; c += 64, dst += 320)
                    {
                        Avx512Digits.Decode(lo0, hi0, lo1, hi1, lo2, hi2, lo3, hi3, top, c81, Vector512.Load(src + c), out var p0, out var p1, out var p2, out var p3, out var p4);
                        Widen(p0, dst); Widen(p1, dst + 64); Widen(p2, dst + 128); Widen(p3, dst + 192); Widen(p4, dst + 256);
                    }

                    // t / 2 doubled: the tile holds t itself.
                    void Widen(Vector512<byte> p, float* to)
                    {
                        var h = Avx512BW.Shuffle(p, e0).AsSingle(); (h + h).Store(to);
                        h = Avx512BW.Shuffle(p, e1).AsSingle(); (h + h).Store(to + 16);
                        h = Avx512BW.Shuffle(p, e2).AsSingle(); (h + h).Store(to + 32);
                        h = Avx512BW.Shuffle(p, e3).AsSingle(); (h + h).Store(to + 48);
                    }
                    break;
                }
                case GemvIsa.Avx2:
                {
                    // The matrix-vector kernel's widening (float top bytes, in-lane vpshufb), in its activation order.
                    var tops = TernaryRowKernels.Avx2FloatTops;
                    var e0 = TernaryRowKernels.Avx2FloatExpand(0); var e1 = TernaryRowKernels.Avx2FloatExpand(1);
                    var e2 = TernaryRowKernels.Avx2FloatExpand(2); var e3 = TernaryRowKernels.Avx2FloatExpand(3);
                    for (int c = 0; c < bytes; c += 32, dst += 160)
                    {
                        Avx2Digits.Decode(Vector256.Load(src + c), out var p0, out var p1, out var p2, out var p3, out var p4);
                        Widen(Avx2.Shuffle(tops, p0), dst); Widen(Avx2.Shuffle(tops, p1), dst + 32); Widen(Avx2.Shuffle(tops, p2), dst + 64);
                        Widen(Avx2.Shuffle(tops, p3), dst + 96); Widen(Avx2.Shuffle(tops, p4), dst + 128);
                    }

                    // t / 2 doubled: the tile holds t itself.
                    void Widen(Vector256<byte> p, float* to)
                    {
                        var h = Avx2.Shuffle(p, e0).AsSingle(); (h + h).Store(to);
                        h = Avx2.Shuffle(p, e1).AsSingle(); (h + h).Store(to + 8);
                        h = Avx2.Shuffle(p, e2).AsSingle(); (h + h).Store(to + 16);
                        h = Avx2.Shuffle(p, e3).AsSingle(); (h + h).Store(to + 24);
                    }
                    break;
                }
                default:
                    fixed (sbyte* lut = TernaryLut.Table)
                        for (int j = 0; j < bytes; j++, dst += 5)
                        {
                            sbyte* t = lut + src[j] * 5;
                            dst[0] = t[0]; dst[1] = t[1]; dst[2] = t[2]; dst[3] = t[3]; dst[4] = t[4];
                        }
                    break;
            }
        }
    }

    /// <summary>The same tile as digits d = t + 1 (bytes), for int8 activations.</summary>
    public static void DecodeDigits(GemvIsa isa, byte* w, int rowBytes, int rows, int from, int bytes, byte* tile)
    {
        int len = bytes * 5;
        for (int r = 0; r < rows; r++)
        {
            byte* src = w + (long)r * rowBytes + from;
            byte* dst = tile + (long)r * len;
            switch (isa)
            {
                case GemvIsa.Avx512:
                {
                    var (lo0, hi0, lo1, hi1, lo2, hi2, lo3, hi3, top) = Avx512Digits.Digits.Load();
        var c81 = Vector512.Create((byte)81);
                    for (int c = 0; c < bytes; c += 64, dst += 320)
                    {
                        Avx512Digits.Decode(lo0, hi0, lo1, hi1, lo2, hi2, lo3, hi3, top, c81, Vector512.Load(src + c), out var p0, out var p1, out var p2, out var p3, out var p4);
                        p0.Store(dst); p1.Store(dst + 64); p2.Store(dst + 128); p3.Store(dst + 192); p4.Store(dst + 256);
                    }
                    break;
                }
                case GemvIsa.Avx2:
                    for (int c = 0; c < bytes; c += 32, dst += 160)
                    {
                        Avx2Digits.Decode(Vector256.Load(src + c), out var p0, out var p1, out var p2, out var p3, out var p4);
                        p0.Store(dst); p1.Store(dst + 32); p2.Store(dst + 64); p3.Store(dst + 96); p4.Store(dst + 128);
                    }
                    break;
                default:
                    fixed (sbyte* lut = TernaryLut.Table)
                        for (int j = 0; j < bytes; j++, dst += 5)
                        {
                            sbyte* t = lut + src[j] * 5;
                            dst[0] = (byte)(t[0] + 1); dst[1] = (byte)(t[1] + 1); dst[2] = (byte)(t[2] + 1); dst[3] = (byte)(t[3] + 1); dst[4] = (byte)(t[4] + 1);
                        }
                    break;
            }
        }
    }

    // ------------------------------------------------------------------ float products

    /// <summary>
    /// acc[t * accStride + r] += sum_j tile[r][j] * x[t][j] for r in [0, rows), t in [0, tokens),
    /// j in [0, len); rows of the tile are <paramref name="len"/> apart, tokens <paramref name="xStride"/> apart.
    /// </summary>
    public static void MultiplyFloat(GemvIsa isa, float* tile, int rows, int len, float* x, long xStride, int tokens, float* acc, int accStride)
    {
        int r = 0;
        if (isa == GemvIsa.Avx512)
        {
            for (; r + 4 <= rows; r += 4)
            {
                int t = 0;
                for (; t + 3 <= tokens; t += 3) Float4x3Avx512(tile + (long)r * len, len, x + t * xStride, xStride, acc + t * accStride + r, accStride);
                for (; t < tokens; t++) Float4x1Avx512(tile + (long)r * len, len, x + t * xStride, acc + t * accStride + r);
            }
        }
        else if (isa == GemvIsa.Avx2)
        {
            for (; r + 4 <= rows; r += 4)
            {
                int t = 0;
                for (; t + 2 <= tokens; t += 2) Float4x2Avx2(tile + (long)r * len, len, x + t * xStride, xStride, acc + t * accStride + r, accStride);
                for (; t < tokens; t++)
                    for (int q = 0; q < 4; q++) acc[t * accStride + r + q] += DotAvx2(tile + (long)(r + q) * len, x + t * xStride, len);
            }
        }
        for (; r < rows; r++)
            for (int t = 0; t < tokens; t++)
                acc[t * accStride + r] += isa switch
                {
                    GemvIsa.Avx512 => DotAvx512(tile + (long)r * len, x + t * xStride, len),
                    GemvIsa.Avx2 => DotAvx2(tile + (long)r * len, x + t * xStride, len),
                    _ => DotScalar(tile + (long)r * len, x + t * xStride, len),
                };
    }

    private static float DotScalar(float* a, float* b, int len)
    {
        float s = 0;
        for (int j = 0; j < len; j++) s += a[j] * b[j];
        return s;
    }

    private static float DotAvx2(float* a, float* b, int len)
    {
        var s0 = Vector256<float>.Zero; var s1 = s0;
        int j = 0;
        for (; j + 16 <= len; j += 16)
        {
            s0 = Fma.MultiplyAdd(Vector256.Load(a + j), Vector256.Load(b + j), s0);
            s1 = Fma.MultiplyAdd(Vector256.Load(a + j + 8), Vector256.Load(b + j + 8), s1);
        }
        float s = Vector256.Sum(s0 + s1);
        for (; j < len; j++) s += a[j] * b[j];
        return s;
    }

    private static float DotAvx512(float* a, float* b, int len)
    {
        var s0 = Vector512<float>.Zero; var s1 = s0;
        int j = 0;
        for (; j + 32 <= len; j += 32)
        {
            s0 = Avx512F.FusedMultiplyAdd(Vector512.Load(a + j), Vector512.Load(b + j), s0);
            s1 = Avx512F.FusedMultiplyAdd(Vector512.Load(a + j + 16), Vector512.Load(b + j + 16), s1);
        }
        float s = Vector512.Sum(s0 + s1);
        for (; j < len; j++) s += a[j] * b[j];
        return s;
    }

    /// <summary>Four rows by three tokens: 12 accumulators, 7 loads per 12 FMAs (len a multiple of 16).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization | MethodImplOptions.NoInlining)]
    private static void Float4x3Avx512(float* w, int len, float* x, long xStride, float* acc, int accStride)
    {
        float* w1 = w + len, w2 = w1 + len, w3 = w2 + len;
        float* x1 = x + xStride, x2 = x1 + xStride;
        Vector512<float> c00 = default, c01 = default, c02 = default, c10 = default, c11 = default, c12 = default;
        Vector512<float> c20 = default, c21 = default, c22 = default, c30 = default, c31 = default, c32 = default;
        for (int j = 0; j < len; j += 16)
        {
            var a0 = Vector512.Load(x + j); var a1 = Vector512.Load(x1 + j); var a2 = Vector512.Load(x2 + j);
            var b = Vector512.Load(w + j);
            c00 = Avx512F.FusedMultiplyAdd(b, a0, c00); c01 = Avx512F.FusedMultiplyAdd(b, a1, c01); c02 = Avx512F.FusedMultiplyAdd(b, a2, c02);
            b = Vector512.Load(w1 + j);
            c10 = Avx512F.FusedMultiplyAdd(b, a0, c10); c11 = Avx512F.FusedMultiplyAdd(b, a1, c11); c12 = Avx512F.FusedMultiplyAdd(b, a2, c12);
            b = Vector512.Load(w2 + j);
            c20 = Avx512F.FusedMultiplyAdd(b, a0, c20); c21 = Avx512F.FusedMultiplyAdd(b, a1, c21); c22 = Avx512F.FusedMultiplyAdd(b, a2, c22);
            b = Vector512.Load(w3 + j);
            c30 = Avx512F.FusedMultiplyAdd(b, a0, c30); c31 = Avx512F.FusedMultiplyAdd(b, a1, c31); c32 = Avx512F.FusedMultiplyAdd(b, a2, c32);
        }
        acc[0] += Vector512.Sum(c00); acc[1] += Vector512.Sum(c10); acc[2] += Vector512.Sum(c20); acc[3] += Vector512.Sum(c30);
        acc += accStride;
        acc[0] += Vector512.Sum(c01); acc[1] += Vector512.Sum(c11); acc[2] += Vector512.Sum(c21); acc[3] += Vector512.Sum(c31);
        acc += accStride;
        acc[0] += Vector512.Sum(c02); acc[1] += Vector512.Sum(c12); acc[2] += Vector512.Sum(c22); acc[3] += Vector512.Sum(c32);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization | MethodImplOptions.NoInlining)]
    private static void Float4x1Avx512(float* w, int len, float* x, float* acc)
    {
        float* w1 = w + len, w2 = w1 + len, w3 = w2 + len;
        Vector512<float> c0 = default, c1 = default, c2 = default, c3 = default;
        for (int j = 0; j < len; j += 16)
        {
            var a = Vector512.Load(x + j);
            c0 = Avx512F.FusedMultiplyAdd(Vector512.Load(w + j), a, c0);
            c1 = Avx512F.FusedMultiplyAdd(Vector512.Load(w1 + j), a, c1);
            c2 = Avx512F.FusedMultiplyAdd(Vector512.Load(w2 + j), a, c2);
            c3 = Avx512F.FusedMultiplyAdd(Vector512.Load(w3 + j), a, c3);
        }
        acc[0] += Vector512.Sum(c0); acc[1] += Vector512.Sum(c1); acc[2] += Vector512.Sum(c2); acc[3] += Vector512.Sum(c3);
    }

    /// <summary>Four rows by two tokens: 8 accumulators, 4 weight registers (16 ymm registers in all).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization | MethodImplOptions.NoInlining)]
    private static void Float4x2Avx2(float* w, int len, float* x, long xStride, float* acc, int accStride)
    {
        float* w1 = w + len, w2 = w1 + len, w3 = w2 + len;
        float* x1 = x + xStride;
        Vector256<float> c00 = default, c01 = default, c10 = default, c11 = default, c20 = default, c21 = default, c30 = default, c31 = default;
        for (int j = 0; j < len; j += 8)
        {
            var a0 = Vector256.Load(x + j); var a1 = Vector256.Load(x1 + j);
            var b = Vector256.Load(w + j);
            c00 = Fma.MultiplyAdd(b, a0, c00); c01 = Fma.MultiplyAdd(b, a1, c01);
            b = Vector256.Load(w1 + j);
            c10 = Fma.MultiplyAdd(b, a0, c10); c11 = Fma.MultiplyAdd(b, a1, c11);
            b = Vector256.Load(w2 + j);
            c20 = Fma.MultiplyAdd(b, a0, c20); c21 = Fma.MultiplyAdd(b, a1, c21);
            b = Vector256.Load(w3 + j);
            c30 = Fma.MultiplyAdd(b, a0, c30); c31 = Fma.MultiplyAdd(b, a1, c31);
        }
        acc[0] += Vector256.Sum(c00); acc[1] += Vector256.Sum(c10); acc[2] += Vector256.Sum(c20); acc[3] += Vector256.Sum(c30);
        acc += accStride;
        acc[0] += Vector256.Sum(c01); acc[1] += Vector256.Sum(c11); acc[2] += Vector256.Sum(c21); acc[3] += Vector256.Sum(c31);
    }

    // ------------------------------------------------------------------ int8 products

    /// <summary>
    /// acc[t * accStride + r] += sum_j digit[r][j] * x[t][j] (digits d = t + 1; the caller subtracts
    /// sum(x) per token). <paramref name="len"/> is a multiple of 64 and at most 63 * 64 (the 16-bit
    /// partial sums gain at most 512 per 64 digits).
    /// </summary>
    public static void MultiplyInt8(GemvIsa isa, byte* tile, int rows, int len, sbyte* x, long xStride, int tokens, int* acc, int accStride)
    {
        int r = 0;
        if (isa == GemvIsa.Avx512)
            for (; r + 4 <= rows; r += 4)
            {
                int t = 0;
                for (; t + 3 <= tokens; t += 3) Int8x4x3Avx512(tile + (long)r * len, len, x + t * xStride, xStride, acc + t * accStride + r, accStride);
                for (; t < tokens; t++)
                    for (int q = 0; q < 4; q++) acc[t * accStride + r + q] += DigitDotAvx512(tile + (long)(r + q) * len, x + t * xStride, len);
            }
        for (; r < rows; r++)
            for (int t = 0; t < tokens; t++)
                acc[t * accStride + r] += isa switch
                {
                    GemvIsa.Avx512 => DigitDotAvx512(tile + (long)r * len, x + t * xStride, len),
                    GemvIsa.Avx2 => DigitDotAvx2(tile + (long)r * len, x + t * xStride, len),
                    _ => DigitDotScalar(tile + (long)r * len, x + t * xStride, len),
                };
    }

    private static int DigitDotScalar(byte* d, sbyte* x, int len)
    {
        int s = 0;
        for (int j = 0; j < len; j++) s += d[j] * x[j];
        return s;
    }

    private static int DigitDotAvx2(byte* d, sbyte* x, int len)
    {
        var s = Vector256<short>.Zero;
        for (int j = 0; j < len; j += 32) s += Avx2.MultiplyAddAdjacent(Vector256.Load(d + j), Vector256.Load(x + j));
        return Vector256.Sum(Avx2.MultiplyAddAdjacent(s, Vector256.Create((short)1)));
    }

    private static int DigitDotAvx512(byte* d, sbyte* x, int len)
    {
        var s = Vector512<short>.Zero;
        for (int j = 0; j < len; j += 64) s += Avx512BW.MultiplyAddAdjacent(Vector512.Load(d + j), Vector512.Load(x + j));
        return Vector512.Sum(Avx512BW.MultiplyAddAdjacent(s, Vector512.Create((short)1)));
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization | MethodImplOptions.NoInlining)]
    private static void Int8x4x3Avx512(byte* w, int len, sbyte* x, long xStride, int* acc, int accStride)
    {
        byte* w1 = w + len, w2 = w1 + len, w3 = w2 + len;
        sbyte* x1 = x + xStride, x2 = x1 + xStride;
        Vector512<short> c00 = default, c01 = default, c02 = default, c10 = default, c11 = default, c12 = default;
        Vector512<short> c20 = default, c21 = default, c22 = default, c30 = default, c31 = default, c32 = default;
        for (int j = 0; j < len; j += 64)
        {
            var a0 = Vector512.Load(x + j); var a1 = Vector512.Load(x1 + j); var a2 = Vector512.Load(x2 + j);
            var b = Vector512.Load(w + j);
            c00 += Avx512BW.MultiplyAddAdjacent(b, a0); c01 += Avx512BW.MultiplyAddAdjacent(b, a1); c02 += Avx512BW.MultiplyAddAdjacent(b, a2);
            b = Vector512.Load(w1 + j);
            c10 += Avx512BW.MultiplyAddAdjacent(b, a0); c11 += Avx512BW.MultiplyAddAdjacent(b, a1); c12 += Avx512BW.MultiplyAddAdjacent(b, a2);
            b = Vector512.Load(w2 + j);
            c20 += Avx512BW.MultiplyAddAdjacent(b, a0); c21 += Avx512BW.MultiplyAddAdjacent(b, a1); c22 += Avx512BW.MultiplyAddAdjacent(b, a2);
            b = Vector512.Load(w3 + j);
            c30 += Avx512BW.MultiplyAddAdjacent(b, a0); c31 += Avx512BW.MultiplyAddAdjacent(b, a1); c32 += Avx512BW.MultiplyAddAdjacent(b, a2);
        }
        var ones = Vector512.Create((short)1);
        acc[0] += Sum(c00); acc[1] += Sum(c10); acc[2] += Sum(c20); acc[3] += Sum(c30);
        acc += accStride;
        acc[0] += Sum(c01); acc[1] += Sum(c11); acc[2] += Sum(c21); acc[3] += Sum(c31);
        acc += accStride;
        acc[0] += Sum(c02); acc[1] += Sum(c12); acc[2] += Sum(c22); acc[3] += Sum(c32);

        int Sum(Vector512<short> v) => Vector512.Sum(Avx512BW.MultiplyAddAdjacent(v, ones));
    }
}
