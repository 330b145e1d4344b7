using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using Ternion.IR.Ternary;

namespace Ternion.Backends.Kernels;

/// <summary>
/// Dot products of TTF1 rows with one activation vector laid out in <see cref="PlaneOrder"/> for
/// the same instruction set: the inner loops of the matrix-vector products. Each handles a range
/// of rows, two rows per pass where the vector width allows (the activation loads are shared).
/// Rows are <c>rowBytes</c> apart and <c>rowBytes</c> is a multiple of 64 (TTF1 blocks), so every
/// vector load is whole. Bytes must be valid TTF1 (&lt; 243), checked by the caller.
/// </summary>
internal static unsafe class TernaryRowKernels
{
    // Every kernel here is NoInlining as well as AggressiveOptimization: when tiered compilation
    // re-compiled a dispatcher with profile data, the float kernels' steady state could drop to
    // 5.2-6.0 G weights/s against 14.5 for the kernel compiled on its own (FloatAvx2, 2560 x 6912,
    // one Zen 3 core, after about 150 calls in a loop; DOTNET_TieredCompilation=0 or NoInlining
    // kept it at 14.5). Inside ONNX Runtime a 300-token run of one 2B layer went 3.23 -> 2.92 ms.

    // ------------------------------------------------------------------ int8 activations

    /// <summary>dots[m - first] = sum_k t[m,k] x[k] for m in [first, end); <paramref name="xSum"/> = sum of the activations.</summary>
    public static void Int8(GemvIsa isa, byte* w, int rowBytes, int first, int end, sbyte* x, int xSum, int* dots)
    {
        switch (isa)
        {
            case GemvIsa.Avx512: Int8Avx512(w, rowBytes, first, end, x, xSum, dots); break;
            case GemvIsa.Avx2: Int8Avx2(w, rowBytes, first, end, x, xSum, dots); break;
            default: Int8Scalar(w, rowBytes, first, end, x, dots); break;
        }
    }

    private static void Int8Scalar(byte* w, int rowBytes, int first, int end, sbyte* x, int* dots)
    {
        fixed (sbyte* lut = TernaryLut.Table)
            for (int m = first; m < end; m++)
            {
                byte* row = w + (long)m * rowBytes;
                int sum = 0;
                for (int j = 0; j < rowBytes; j++)
                {
                    sbyte* t = lut + row[j] * 5;
                    sbyte* a = x + 5 * j;
                    sum += t[0] * a[0] + t[1] * a[1] + t[2] * a[2] + t[3] * a[3] + t[4] * a[4];
                }
                dots[m - first] = sum;
            }
    }

    /// <summary>
    /// 64 bytes (320 trits) per step and row: 10 ops decode (<see cref="Avx512Digits"/>), 5
    /// vpmaddubsw multiply digits by activations into 16-bit pair sums, 5 adds. A 16-bit lane
    /// gains at most 5 * 2 * 2 * 128 = 2560 per step, so 12 steps fit before vpmaddwd widens them.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization | MethodImplOptions.NoInlining)]
    private static void Int8Avx512(byte* w, int rowBytes, int first, int end, sbyte* x, int xSum, int* dots)
    {
        var (lo0, hi0, lo1, hi1, lo2, hi2, lo3, hi3, top) = Avx512Digits.Digits.Load();
        var c81 = Vector512.Create((byte)81);
        int chunks = rowBytes / 64;
        var ones = Vector512.Create((short)1);
        // Two rows per pass share the activation loads. They come from the two halves of the range,
        // so each is read in one ascending sweep: interleaving neighbouring rows (A0 B0 A1 B1 ...,
        // with B 512 bytes past A) ran at half the DRAM bandwidth on Zen 4, whose prefetchers
        // follow ascending streams.
        int pairs = (end - first) / 2;
        for (int i = 0; i < pairs; i++)
        {
            int ma = first + i, mb = first + pairs + i;
            byte* ra = w + (long)ma * rowBytes, rb = w + (long)mb * rowBytes;
            var accA = Vector512<int>.Zero;
            var accB = Vector512<int>.Zero;
            for (int c = 0; c < chunks;)
            {
                var sa = Vector512<short>.Zero;
                var sb = Vector512<short>.Zero;
                int stop = Math.Min(chunks, c + 12);
                for (; c < stop; c++)
                {
                    sbyte* xc = x + 320 * c;
                    var x0 = Vector512.Load(xc);
                    var x1 = Vector512.Load(xc + 64);
                    var x2 = Vector512.Load(xc + 128);
                    var x3 = Vector512.Load(xc + 192);
                    var x4 = Vector512.Load(xc + 256);
                    Avx512Digits.Decode(lo0, hi0, lo1, hi1, lo2, hi2, lo3, hi3, top, c81, Vector512.Load(ra + 64 * c), out var a0, out var a1, out var a2, out var a3, out var a4);
                    sa += (Avx512BW.MultiplyAddAdjacent(a0, x0) + Avx512BW.MultiplyAddAdjacent(a1, x1))
                        + (Avx512BW.MultiplyAddAdjacent(a2, x2) + Avx512BW.MultiplyAddAdjacent(a3, x3)) + Avx512BW.MultiplyAddAdjacent(a4, x4);
                    Avx512Digits.Decode(lo0, hi0, lo1, hi1, lo2, hi2, lo3, hi3, top, c81, Vector512.Load(rb + 64 * c), out var b0, out var b1, out var b2, out var b3, out var b4);
                    sb += (Avx512BW.MultiplyAddAdjacent(b0, x0) + Avx512BW.MultiplyAddAdjacent(b1, x1))
                        + (Avx512BW.MultiplyAddAdjacent(b2, x2) + Avx512BW.MultiplyAddAdjacent(b3, x3)) + Avx512BW.MultiplyAddAdjacent(b4, x4);
                }
                accA += Avx512BW.MultiplyAddAdjacent(sa, ones);
                accB += Avx512BW.MultiplyAddAdjacent(sb, ones);
            }
            dots[ma - first] = Vector512.Sum(accA) - xSum;
            dots[mb - first] = Vector512.Sum(accB) - xSum;
        }
        for (int m = first + 2 * pairs; m < end; m++)
        {
            byte* ra = w + (long)m * rowBytes;
            var acc = Vector512<int>.Zero;
            for (int c = 0; c < chunks;)
            {
                var s = Vector512<short>.Zero;
                int stop = Math.Min(chunks, c + 12);
                for (; c < stop; c++)
                {
                    sbyte* xc = x + 320 * c;
                    Avx512Digits.Decode(lo0, hi0, lo1, hi1, lo2, hi2, lo3, hi3, top, c81, Vector512.Load(ra + 64 * c), out var a0, out var a1, out var a2, out var a3, out var a4);
                    s += (Avx512BW.MultiplyAddAdjacent(a0, Vector512.Load(xc)) + Avx512BW.MultiplyAddAdjacent(a1, Vector512.Load(xc + 64)))
                        + (Avx512BW.MultiplyAddAdjacent(a2, Vector512.Load(xc + 128)) + Avx512BW.MultiplyAddAdjacent(a3, Vector512.Load(xc + 192)))
                        + Avx512BW.MultiplyAddAdjacent(a4, Vector512.Load(xc + 256));
                }
                acc += Avx512BW.MultiplyAddAdjacent(s, ones);
            }
            dots[m - first] = Vector512.Sum(acc) - xSum;
        }
    }

    /// <summary>
    /// 32 bytes (160 trits) per step and row: 8 shuffle-class and 10 simple ops decode
    /// (<see cref="Avx2Digits"/>), 5 vpmaddubsw and 5 adds multiply. One row per pass, the tables in
    /// registers: on AVX2-only CPUs (16 ymm registers) a second row's live values would push the
    /// tables out, and reloading them costs more than the shared activation loads save. A 16-bit
    /// lane gains at most 2560 per step: 12 steps fit.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization | MethodImplOptions.NoInlining)]
    private static void Int8Avx2(byte* w, int rowBytes, int first, int end, sbyte* x, int xSum, int* dots)
    {
        var (rest, a0, a1, low, high) = Avx2Digits.Load();
        int chunks = rowBytes / 32;
        var ones = Vector256.Create((short)1);
        for (int m = first; m < end; m++)
        {
            byte* ra = w + (long)m * rowBytes;
            var acc = Vector256<int>.Zero;
            for (int c = 0; c < chunks;)
            {
                var s = Vector256<short>.Zero;
                int stop = Math.Min(chunks, c + 12);
                for (; c < stop; c++)
                {
                    sbyte* xc = x + 160 * c;
                    Avx2Digits.Decode(rest, a0, a1, low, high, Vector256.Load(ra + 32 * c), out var d0, out var d1, out var d2, out var d3, out var d4);
                    s += (Avx2.MultiplyAddAdjacent(d0, Vector256.Load(xc)) + Avx2.MultiplyAddAdjacent(d1, Vector256.Load(xc + 32)))
                        + (Avx2.MultiplyAddAdjacent(d2, Vector256.Load(xc + 64)) + Avx2.MultiplyAddAdjacent(d3, Vector256.Load(xc + 96)))
                        + Avx2.MultiplyAddAdjacent(d4, Vector256.Load(xc + 128));
                }
                acc += Avx2.MultiplyAddAdjacent(s, ones);
            }
            dots[m - first] = Vector256.Sum(acc) - xSum;
        }
    }

    // ------------------------------------------------------------------ float32 activations

    /// <summary>sums[m - first] = sum_k t[m,k] x[k] in float32 for m in [first, end).</summary>
    public static void Float(GemvIsa isa, byte* w, int rowBytes, int first, int end, float* x, float* sums)
    {
        switch (isa)
        {
            case GemvIsa.Avx512: FloatAvx512(w, rowBytes, first, end, x, sums); break;
            case GemvIsa.Avx2: FloatAvx2(w, rowBytes, first, end, x, sums); break;
            default: FloatScalar(w, rowBytes, first, end, x, sums); break;
        }
    }

    private static void FloatScalar(byte* w, int rowBytes, int first, int end, float* x, float* sums)
    {
        fixed (sbyte* lut = TernaryLut.Table)
            for (int m = first; m < end; m++)
            {
                byte* row = w + (long)m * rowBytes;
                float sum = 0;
                for (int j = 0; j < rowBytes; j++)
                {
                    sbyte* t = lut + row[j] * 5;
                    float* a = x + 5 * j;
                    sum += t[0] * a[0] + t[1] * a[1] + t[2] * a[2] + t[3] * a[3] + t[4] * a[4];
                }
                sums[m - first] = sum;
            }
    }

    /// <summary>
    /// 64 bytes per step, two rows per pass. The decode's tables give each trit as the top byte
    /// of the float t / 2 (<see cref="Avx512Digits.HalfFloatTop"/>), and one in-lane vpshufb per 16
    /// trits moves 16 of those bytes to the tops of zeroed dwords: the float32 values themselves,
    /// with no widening and no int-to-float conversion (activations are in
    /// <see cref="PlaneOrder.PermuteFloatAvx512"/> order to match). Then one FMA per 16 trits, the
    /// floor of any float product. Sums are of t x / 2, exactly half those of t x, doubled at the end.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization | MethodImplOptions.NoInlining)]
    private static void FloatAvx512(byte* w, int rowBytes, int first, int end, float* x, float* sums)
    {
        var (lo0, hi0, lo1, hi1, lo2, hi2, lo3, hi3, top) = Avx512Digits.HalfFloatTop.Load();
        var c81 = Vector512.Create((byte)81);
        var e0 = FloatExpand(0); var e1 = FloatExpand(1); var e2 = FloatExpand(2); var e3 = FloatExpand(3);
        int chunks = rowBytes / 64;
        // Two rows per pass, every activation load (1280 bytes of them per 64 weight bytes) serving
        // both; the rows come from the two halves of the range so that each is an ascending stream.
        int pairs = (end - first + 1) / 2;
        for (int i = 0; i < pairs; i++)
        {
            int m = first + i, mb = first + pairs + i;
            bool two = mb < end;
            byte* ra = w + (long)m * rowBytes, rb = two ? w + (long)mb * rowBytes : ra;
            // Four accumulators per row: an FMA waits four cycles for the one before it on the same
            // register, and a chain of ten per step (two accumulators) ran at half the FMA rate.
            Vector512<float> a0 = default, a1 = default, a2 = default, a3 = default, b0 = default, b1 = default, b2 = default, b3 = default;
            for (int c = 0; c < chunks; c++)
            {
                Avx512Digits.Decode(lo0, hi0, lo1, hi1, lo2, hi2, lo3, hi3, top, c81, Vector512.Load(ra + 64 * c), out var pa0, out var pa1, out var pa2, out var pa3, out var pa4);
                Avx512Digits.Decode(lo0, hi0, lo1, hi1, lo2, hi2, lo3, hi3, top, c81, Vector512.Load(rb + 64 * c), out var pb0, out var pb1, out var pb2, out var pb3, out var pb4);
                float* xc = x + 320 * c;
                Plane(pa0, pb0, xc); Plane(pa1, pb1, xc + 64); Plane(pa2, pb2, xc + 128); Plane(pa3, pb3, xc + 192); Plane(pa4, pb4, xc + 256);
            }
            sums[m - first] = 2 * Vector512.Sum((a0 + a1) + (a2 + a3));
            if (two) sums[mb - first] = 2 * Vector512.Sum((b0 + b1) + (b2 + b3));

            [MethodImpl(MethodImplOptions.AggressiveInlining)]
            void Plane(Vector512<byte> pa, Vector512<byte> pb, float* xp)
            {
                var x0 = Vector512.Load(xp); var x1 = Vector512.Load(xp + 16);
                a0 = Avx512F.FusedMultiplyAdd(Avx512BW.Shuffle(pa, e0).AsSingle(), x0, a0);
                b0 = Avx512F.FusedMultiplyAdd(Avx512BW.Shuffle(pb, e0).AsSingle(), x0, b0);
                a1 = Avx512F.FusedMultiplyAdd(Avx512BW.Shuffle(pa, e1).AsSingle(), x1, a1);
                b1 = Avx512F.FusedMultiplyAdd(Avx512BW.Shuffle(pb, e1).AsSingle(), x1, b1);
                var x2 = Vector512.Load(xp + 32); var x3 = Vector512.Load(xp + 48);
                a2 = Avx512F.FusedMultiplyAdd(Avx512BW.Shuffle(pa, e2).AsSingle(), x2, a2);
                b2 = Avx512F.FusedMultiplyAdd(Avx512BW.Shuffle(pb, e2).AsSingle(), x2, b2);
                a3 = Avx512F.FusedMultiplyAdd(Avx512BW.Shuffle(pa, e3).AsSingle(), x3, a3);
                b3 = Avx512F.FusedMultiplyAdd(Avx512BW.Shuffle(pb, e3).AsSingle(), x3, b3);
            }
        }
    }

    /// <summary>vpshufb control for quarter q: in every 128-bit lane, dword j's top byte takes lane byte 4q + j; 0x80 zeroes the rest.</summary>
    internal static Vector512<byte> FloatExpand(int quarter)
    {
        Span<byte> idx = stackalloc byte[64];
        idx.Fill(0x80);
        for (int lane = 0; lane < 4; lane++)
            for (int j = 0; j < 4; j++) idx[16 * lane + 4 * j + 3] = (byte)(4 * quarter + j);
        return Vector512.Create((ReadOnlySpan<byte>)idx);
    }

    /// <summary>
    /// 32 bytes per step and row, one row per pass with the tables in registers. As on AVX-512, each
    /// digit becomes the top byte of the float t / 2 (one vpshufb per plane) and one in-lane vpshufb
    /// per 8 trits makes the floats (activations in <see cref="PlaneOrder.PermuteFloatAvx2"/> order),
    /// then one FMA per 8 weights, four accumulators.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization | MethodImplOptions.NoInlining)]
    private static void FloatAvx2(byte* w, int rowBytes, int first, int end, float* x, float* sums)
    {
        var (rest, a0t, a1t, low, high) = Avx2Digits.Load();
        var tops = Avx2FloatTops;
        var e0 = Avx2FloatExpand(0); var e1 = Avx2FloatExpand(1); var e2 = Avx2FloatExpand(2); var e3 = Avx2FloatExpand(3);
        int chunks = rowBytes / 32;
        for (int m = first; m < end; m++)
        {
            byte* ra = w + (long)m * rowBytes;
            Vector256<float> a0 = default, a1 = default, a2 = default, a3 = default;
            for (int c = 0; c < chunks; c++)
            {
                Avx2Digits.Decode(rest, a0t, a1t, low, high, Vector256.Load(ra + 32 * c), out var p0, out var p1, out var p2, out var p3, out var p4);
                float* xc = x + 160 * c;
                Plane(Avx2.Shuffle(tops, p0), xc); Plane(Avx2.Shuffle(tops, p1), xc + 32); Plane(Avx2.Shuffle(tops, p2), xc + 64);
                Plane(Avx2.Shuffle(tops, p3), xc + 96); Plane(Avx2.Shuffle(tops, p4), xc + 128);
            }
            sums[m - first] = 2 * Vector256.Sum((a0 + a1) + (a2 + a3));

            [MethodImpl(MethodImplOptions.AggressiveInlining)]
            void Plane(Vector256<byte> p, float* xp)
            {
                a0 = Fma.MultiplyAdd(Avx2.Shuffle(p, e0).AsSingle(), Vector256.Load(xp), a0);
                a1 = Fma.MultiplyAdd(Avx2.Shuffle(p, e1).AsSingle(), Vector256.Load(xp + 8), a1);
                a2 = Fma.MultiplyAdd(Avx2.Shuffle(p, e2).AsSingle(), Vector256.Load(xp + 16), a2);
                a3 = Fma.MultiplyAdd(Avx2.Shuffle(p, e3).AsSingle(), Vector256.Load(xp + 24), a3);
            }
        }
    }

    /// <summary>Digit d (0, 1, 2) to the top byte of the float (d - 1) / 2: 0xBF, 0, 0x3F.</summary>
    internal static Vector256<byte> Avx2FloatTops { get; } = Vector256.Create(
        (byte)0xBF, 0, 0x3F, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xBF, 0, 0x3F, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0);

    /// <summary>vpshufb control for quarter q of a 32-byte plane: in each lane, dword j's top byte takes lane byte 4q + j.</summary>
    internal static Vector256<byte> Avx2FloatExpand(int quarter)
    {
        Span<byte> idx = stackalloc byte[32];
        idx.Fill(0x80);
        for (int lane = 0; lane < 2; lane++)
            for (int j = 0; j < 4; j++) idx[16 * lane + 4 * j + 3] = (byte)(4 * quarter + j);
        return Vector256.Create((ReadOnlySpan<byte>)idx);
    }
}
