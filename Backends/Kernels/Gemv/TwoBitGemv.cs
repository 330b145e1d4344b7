using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Ternion.Backends.Kernels;

/// <summary>
/// The same int8 matrix-vector product over 2-bit packed ternary weights, the baseline TTF1 is
/// measured against. The layout is ours (I2_S-like, interleaved so that a plain shift and mask
/// give whole 64-byte digit planes in element order):
/// <list type="bullet">
/// <item>a weight [M, K] is M rows, each <see cref="RowBytes"/> = ceil(K / 256) blocks of 64 bytes;</item>
/// <item>in block j, byte p (0..63) holds elements 256 j + p, + 64, + 128, + 192 in its bits
/// 0-1, 2-3, 4-5, 6-7, each as q = t + 1 (0, 1, 2; the code 3 is never written);</item>
/// <item>elements past K are zeros (q = 1), so a whole padding byte is 0x55.</item>
/// </list>
/// That is 2 bits per weight plus padding (none at K = 2560 or 6912), against TTF1's 1.6.
/// </summary>
public static unsafe class TwoBitGemv
{
    public const int BlockElements = 256;
    public const int BlockBytes = 64;
    /// <summary>Byte of four zero trits.</summary>
    public const byte ZeroByte = 0x55;

    public static long RowBytes(long k) => (k + BlockElements - 1) / BlockElements * BlockBytes;

    /// <summary>Packs trits (-1, 0, +1) given as [rows, k] row-major into [rows, RowBytes(k)]; any other value throws.</summary>
    public static byte[] Pack(ReadOnlySpan<sbyte> trits, int rows, int k)
    {
        if (rows < 0 || k < 0 || (long)rows * k != trits.Length)
            throw new ArgumentException($"trits: {trits.Length} values, not {rows} x {k}", nameof(trits));
        long rowBytes = RowBytes(k);
        var packed = new byte[checked(rows * rowBytes)];
        packed.AsSpan().Fill(ZeroByte);
        for (int m = 0; m < rows; m++)
            for (int e = 0; e < k; e++)
            {
                int t = trits[m * k + e];
                if (t is < -1 or > 1) throw new ArgumentException($"trits[{m}, {e}] = {t} is not -1, 0 or +1", nameof(trits));
                long at = m * rowBytes + e / BlockElements * BlockBytes + e % BlockBytes;
                int shift = 2 * (e % BlockElements / BlockBytes);
                packed[at] = (byte)((packed[at] & ~(3 << shift)) | ((t + 1) << shift));
            }
        return packed;
    }

    /// <summary>Quantizes <paramref name="x"/> (see <see cref="Int8Vector"/>) and multiplies.</summary>
    public static void Multiply(ReadOnlySpan<byte> packed, int rows, int k, ReadOnlySpan<float> scales,
        ReadOnlySpan<float> x, Span<float> y, GemvOptions options = default) =>
        Multiply(packed, rows, k, scales, Int8Vector.Quantize(x), y, options);

    /// <summary>y[m] = (float)(sum_k t[m,k] q[k]) * (scale[m or 0] * x.Scale).</summary>
    public static void Multiply(ReadOnlySpan<byte> packed, int rows, int k, ReadOnlySpan<float> scales,
        Int8Vector x, Span<float> y, GemvOptions options = default)
    {
        Check(packed, rows, k, x);
        KernelSupport.CheckScales(scales.Length, rows);
        KernelSupport.CheckOutput(y.Length, rows, nameof(y));
        fixed (byte* w = packed)
        fixed (float* s = scales)
        fixed (float* yp = y)
            Run(w, rows, k, x, null, yp, s, scales.Length, options);
    }

    /// <summary>The exact integer products sum_k t[m,k] q[k], one per row.</summary>
    public static void Dot(ReadOnlySpan<byte> packed, int rows, int k, Int8Vector x, Span<int> dots, GemvOptions options = default)
    {
        Check(packed, rows, k, x);
        KernelSupport.CheckOutput(dots.Length, rows, nameof(dots));
        fixed (byte* w = packed)
        fixed (int* d = dots)
            Run(w, rows, k, x, d, null, null, 0, options);
    }

    private static void Check(ReadOnlySpan<byte> packed, int rows, int k, Int8Vector x)
    {
        ArgumentNullException.ThrowIfNull(x);
        if (rows < 0 || k < 0) throw new ArgumentException($"{rows} x {k}: negative dimension");
        KernelSupport.CheckK(k);
        if (packed.Length != rows * RowBytes(k))
            throw new ArgumentException($"packed: {packed.Length} bytes, {rows} x {k} needs {rows * RowBytes(k)}", nameof(packed));
        if (x.Length != k) throw new ArgumentException($"x: {x.Length} values, the matrix has K = {k}", nameof(x));
    }

    private static void Run(byte* w, int rows, int k, Int8Vector x, int* dots, float* y, float* scales, int scaleCount, GemvOptions options)
    {
        var isa = options.Resolve();
        int rowBytes = (int)RowBytes(k);
        int threads = options.ResolveThreads();
        // Both paths read activations in element order, zero-padded to whole blocks.
        sbyte* xs = (sbyte*)KernelSupport.Scratch(rowBytes * 4);
        new Span<sbyte>(xs + k, rowBytes * 4 - k).Clear();
        x.Values.CopyTo(new Span<sbyte>(xs, k));
        int bias = x.Sum;
        float xScale = x.Scale;
        nint wp = (nint)w, xp = (nint)xs, dp = (nint)dots, yp = (nint)y, sp = (nint)scales;
        KernelSupport.SplitRows(rows, threads, (first, end) =>
        {
            int m = first;
            if (isa == GemvIsa.Avx512)
            {
                // As the TTF1 kernel pairs its rows: from the two halves of the range, each an ascending stream.
                int pairs = (end - first) / 2;
                for (int i = 0; i < pairs; i++)
                {
                    int ma = first + i, mb = first + pairs + i;
                    var (da, db) = DotTwoRowsAvx512((byte*)wp + (long)ma * rowBytes, (byte*)wp + (long)mb * rowBytes, rowBytes / BlockBytes, (sbyte*)xp);
                    Store(ma, da - bias);
                    Store(mb, db - bias);
                }
                m = first + 2 * pairs;
            }
            for (; m < end; m++)
            {
                byte* row = (byte*)wp + (long)m * rowBytes;
                int dot = (isa switch
                {
                    GemvIsa.Avx512 => DotTwoRowsAvx512(row, row, rowBytes / BlockBytes, (sbyte*)xp).A,
                    GemvIsa.Avx2 => DotRowAvx2(row, rowBytes / BlockBytes, (sbyte*)xp),
                    _ => DotRowScalar(row, rowBytes, (sbyte*)xp),
                }) - bias;
                Store(m, dot);
            }

            void Store(int m, int dot)
            {
                if (dp != 0) ((int*)dp)[m] = dot;
                if (yp != 0) ((float*)yp)[m] = dot * (((float*)sp)[scaleCount == 1 ? 0 : m] * xScale);
            }
        });
    }

    /// <summary>sum_k q x (q = t + 1) over one row; the caller subtracts sum(x).</summary>
    private static int DotRowScalar(byte* row, int rowBytes, sbyte* x)
    {
        int sum = 0;
        for (int j = 0; j < rowBytes / BlockBytes; j++)
        {
            byte* b = row + BlockBytes * j;
            sbyte* a = x + BlockElements * j;
            for (int p = 0; p < BlockBytes; p++)
            {
                int v = b[p];
                sum += (v & 3) * a[p] + (v >> 2 & 3) * a[p + 64] + (v >> 4 & 3) * a[p + 128] + (v >> 6) * a[p + 192];
            }
        }
        return sum;
    }

    /// <summary>
    /// sum_k q x over one row, a 64-byte block per step. Planes 1 and 3 are masked in place (4 q, no
    /// shift) and summed apart, then divided by 4 exactly at the end: one shift per 32 bytes instead of three.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static int DotRowAvx2(byte* row, int blocks, sbyte* x)
    {
        var low = Vector256.Create((byte)0x03);
        var next = Vector256.Create((byte)0x0C);
        var ones = Vector256.Create((short)1);
        var acc1 = Vector256<int>.Zero;
        var acc4 = Vector256<int>.Zero;
        int j = 0;
        while (j < blocks)
        {
            // Per block a 16-bit lane of sum4 gains at most 4 * 2 * 8 * 127 = 8128: two blocks fit.
            var sum1 = Vector256<short>.Zero;
            var sum4 = Vector256<short>.Zero;
            int end = Math.Min(blocks, j + 2);
            for (; j < end; j++)
            {
                byte* b = row + BlockBytes * j;
                sbyte* a = x + BlockElements * j;
                var v0 = Avx.LoadVector256(b);
                var v1 = Avx.LoadVector256(b + 32);
                var u0 = Avx2.ShiftRightLogical(v0.AsUInt16(), 4).AsByte();
                var u1 = Avx2.ShiftRightLogical(v1.AsUInt16(), 4).AsByte();
                sum1 = Avx2.Add(sum1, Avx2.Add(
                    Avx2.Add(Avx2.MultiplyAddAdjacent(Avx2.And(v0, low), Avx.LoadVector256(a)), Avx2.MultiplyAddAdjacent(Avx2.And(v1, low), Avx.LoadVector256(a + 32))),
                    Avx2.Add(Avx2.MultiplyAddAdjacent(Avx2.And(u0, low), Avx.LoadVector256(a + 128)), Avx2.MultiplyAddAdjacent(Avx2.And(u1, low), Avx.LoadVector256(a + 160)))));
                sum4 = Avx2.Add(sum4, Avx2.Add(
                    Avx2.Add(Avx2.MultiplyAddAdjacent(Avx2.And(v0, next), Avx.LoadVector256(a + 64)), Avx2.MultiplyAddAdjacent(Avx2.And(v1, next), Avx.LoadVector256(a + 96))),
                    Avx2.Add(Avx2.MultiplyAddAdjacent(Avx2.And(u0, next), Avx.LoadVector256(a + 192)), Avx2.MultiplyAddAdjacent(Avx2.And(u1, next), Avx.LoadVector256(a + 224)))));
            }
            acc1 = Avx2.Add(acc1, Avx2.MultiplyAddAdjacent(sum1, ones));
            acc4 = Avx2.Add(acc4, Avx2.MultiplyAddAdjacent(sum4, ones));
        }
        return Vector256.Sum(acc1) + (Vector256.Sum(acc4) >> 2);
    }

    /// <summary>
    /// The AVX-512 form of <see cref="DotRowAvx2"/>, two rows per pass (sharing the activation loads,
    /// as the TTF1 kernel does): per 64-byte block and row 1 shift, 4 and, 4 vpmaddubsw, 4 adds.
    /// Per block a 16-bit lane of the 4q sums gains at most 2 * 2 * 8 * 128 = 4096: four blocks fit.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static (int A, int B) DotTwoRowsAvx512(byte* rowA, byte* rowB, int blocks, sbyte* x)
    {
        var low = Vector512.Create((byte)0x03);
        var next = Vector512.Create((byte)0x0C);
        var ones = Vector512.Create((short)1);
        var a1 = Vector512<int>.Zero; var a4 = Vector512<int>.Zero;
        var b1 = Vector512<int>.Zero; var b4 = Vector512<int>.Zero;
        int j = 0;
        while (j < blocks)
        {
            var sa1 = Vector512<short>.Zero; var sa4 = Vector512<short>.Zero;
            var sb1 = Vector512<short>.Zero; var sb4 = Vector512<short>.Zero;
            int end = Math.Min(blocks, j + 4);
            for (; j < end; j++)
            {
                sbyte* a = x + BlockElements * j;
                var x0 = Vector512.Load(a); var x1 = Vector512.Load(a + 64); var x2 = Vector512.Load(a + 128); var x3 = Vector512.Load(a + 192);
                var v = Vector512.Load(rowA + BlockBytes * j);
                var u = Avx512BW.ShiftRightLogical(v.AsUInt16(), 4).AsByte();
                sa1 += Avx512BW.MultiplyAddAdjacent(v & low, x0) + Avx512BW.MultiplyAddAdjacent(u & low, x2);
                sa4 += Avx512BW.MultiplyAddAdjacent(v & next, x1) + Avx512BW.MultiplyAddAdjacent(u & next, x3);
                v = Vector512.Load(rowB + BlockBytes * j);
                u = Avx512BW.ShiftRightLogical(v.AsUInt16(), 4).AsByte();
                sb1 += Avx512BW.MultiplyAddAdjacent(v & low, x0) + Avx512BW.MultiplyAddAdjacent(u & low, x2);
                sb4 += Avx512BW.MultiplyAddAdjacent(v & next, x1) + Avx512BW.MultiplyAddAdjacent(u & next, x3);
            }
            a1 += Avx512BW.MultiplyAddAdjacent(sa1, ones); a4 += Avx512BW.MultiplyAddAdjacent(sa4, ones);
            b1 += Avx512BW.MultiplyAddAdjacent(sb1, ones); b4 += Avx512BW.MultiplyAddAdjacent(sb4, ones);
        }
        return (Vector512.Sum(a1) + (Vector512.Sum(a4) >> 2), Vector512.Sum(b1) + (Vector512.Sum(b4) >> 2));
    }
}
