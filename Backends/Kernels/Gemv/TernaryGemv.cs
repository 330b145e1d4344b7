using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
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
        int rows = (int)layout.M, rowBytes = (int)layout.RowBytes, k = (int)layout.K;
        int threads = options.ResolveThreads();
        int bias = isa == GemvIsa.Avx2 ? x.Sum : 0;
        float xScale = x.Scale;
        sbyte* xs;
        if (isa == GemvIsa.Avx2)
        {
            xs = (sbyte*)KernelSupport.Scratch(rowBytes * 5);
            Reorder(x.Values, rowBytes, xs);
        }
        else
        {
            // The scalar path reads activations in their own order, padded with zeros to whole bytes.
            xs = (sbyte*)KernelSupport.Scratch(rowBytes * 5);
            new Span<sbyte>(xs, rowBytes * 5).Clear();
            x.Values.CopyTo(new Span<sbyte>(xs, k));
        }
        nint wp = (nint)w, xp = (nint)xs, dp = (nint)dots, yp = (nint)y, sp = (nint)scales;
        KernelSupport.SplitRows(rows, threads, (first, end) =>
        {
            for (int m = first; m < end; m++)
            {
                byte* row = (byte*)wp + (long)m * rowBytes;
                int dot = isa == GemvIsa.Avx2 ? DotRowAvx2(row, rowBytes / 32, (sbyte*)xp) - bias : DotRowScalar(row, rowBytes, (sbyte*)xp);
                if (dp != 0) ((int*)dp)[m] = dot;
                if (yp != 0) ((float*)yp)[m] = dot * (((float*)sp)[scaleCount == 1 ? 0 : m] * xScale);
            }
        });
    }

    /// <summary>
    /// Lays activations out for the AVX2 path: per 32-byte chunk c of a row (160 trits), five planes of
    /// 32 bytes, plane i holding element 160 c + 5 p + i at byte p, so plane i multiplies digit i of
    /// the chunk's bytes. Elements past K (padding) are 0.
    /// </summary>
    internal static void Reorder(ReadOnlySpan<sbyte> q, int rowBytes, sbyte* dst)
    {
        int k = q.Length;
        for (int c = 0; c < rowBytes / 32; c++)
        {
            sbyte* chunk = dst + 160 * c;
            int at = 160 * c;
            for (int p = 0; p < 32; p++)
                for (int i = 0; i < 5; i++)
                {
                    int e = at + 5 * p + i;
                    chunk[32 * i + p] = e < k ? q[e] : (sbyte)0;
                }
        }
    }

    /// <summary>sum_k t q over one row, byte by byte through the spec's lookup table (reserved bytes read as zeros).</summary>
    private static int DotRowScalar(byte* row, int rowBytes, sbyte* q)
    {
        var lut = TernaryLut.Table;
        int sum = 0;
        fixed (sbyte* t0 = lut)
            for (int j = 0; j < rowBytes; j++)
            {
                sbyte* t = t0 + row[j] * 5;
                sbyte* a = q + 5 * j;
                sum += t[0] * a[0] + t[1] * a[1] + t[2] * a[2] + t[3] * a[3] + t[4] * a[4];
            }
        return sum;
    }

    // vpshufb tables, the same 16 bytes in both 128-bit lanes. h = b >> 4, b = 16 h + l.
    private static Vector256<byte> Table(Func<int, int> f)
    {
        Span<byte> t = stackalloc byte[32];
        for (int i = 0; i < 16; i++) t[i] = t[i + 16] = (byte)f(i);
        return Vector256.Create((ReadOnlySpan<byte>)t);
    }

    // (16h mod 9) - 16h, so that adding b itself gives s = (16h mod 9) + l without isolating l.
    private static readonly Vector256<byte> s_rest = Table(h => 16 * h % 9 - 16 * h);
    // floor(16h / 9) = 9 a1 + a0: Q = floor(b / 9) = 9 a1 + a0 + carry.
    private static readonly Vector256<byte> s_a0 = Table(h => 16 * h / 9 % 9);
    private static readonly Vector256<byte> s_a1 = Table(h => 16 * h / 81);
    // Digits of a base-9 value v read mod 9, for v in 0..15: low digit v mod 3, high digit (v mod 9) / 3.
    private static readonly Vector256<byte> s_low = Table(v => v % 9 % 3);
    private static readonly Vector256<byte> s_high = Table(v => v % 9 / 3);

    /// <summary>
    /// sum_k d q over one row (digits d = t + 1); the caller subtracts sum(q). 32 bytes per step:
    /// 8 shuffle-class and 10 simple ops decode, 5 vpmaddubsw + 5 adds multiply.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static int DotRowAvx2(byte* row, int chunks, sbyte* q)
    {
        var rest = s_rest; var a0 = s_a0; var a1 = s_a1; var low = s_low; var high = s_high;
        var nibble = Vector256.Create((byte)0x0F);
        var eight = Vector256.Create((sbyte)8);
        var seventeen = Vector256.Create((sbyte)17);
        var nine = Vector256.Create((byte)9);
        var ones = Vector256.Create((short)1);
        var acc = Vector256<int>.Zero;
        int c = 0;
        while (c < chunks)
        {
            // Each 16-bit lane gains at most 10 * 2 * 127 per chunk: 8 chunks stay below 32767.
            var sum16 = Vector256<short>.Zero;
            int end = Math.Min(chunks, c + 8);
            for (; c < end; c++)
            {
                var b = Avx.LoadVector256(row + 32 * c);
                sbyte* x = q + 160 * c;
                // vpsrlw moves the odd byte's low nibble into bit 4-7 of the even byte: mask it off.
                var h = Avx2.And(Avx2.ShiftRightLogical(b.AsUInt16(), 4).AsByte(), nibble);
                var s = Avx2.Add(Avx2.Shuffle(rest, h), b);                                  // 0..23
                var c1 = Avx2.CompareGreaterThan(s.AsSByte(), eight).AsByte();               // s >= 9
                var c2 = Avx2.CompareGreaterThan(s.AsSByte(), seventeen).AsByte();           // s >= 18
                var n = Avx2.Subtract(s, Avx2.And(c1, nine));                                // 0..14, = b mod 9 (mod 9)
                var t = Avx2.Subtract(Avx2.Subtract(Avx2.Shuffle(a0, h), c1), c2);          // a0 + carry, 0..10
                var d4 = Avx2.Subtract(Avx2.Shuffle(a1, h), Avx2.CompareGreaterThan(t.AsSByte(), eight).AsByte());
                var p0 = Avx2.MultiplyAddAdjacent(Avx2.Shuffle(low, n), Avx.LoadVector256(x));
                var p1 = Avx2.MultiplyAddAdjacent(Avx2.Shuffle(high, n), Avx.LoadVector256(x + 32));
                var p2 = Avx2.MultiplyAddAdjacent(Avx2.Shuffle(low, t), Avx.LoadVector256(x + 64));
                var p3 = Avx2.MultiplyAddAdjacent(Avx2.Shuffle(high, t), Avx.LoadVector256(x + 96));
                var p4 = Avx2.MultiplyAddAdjacent(d4, Avx.LoadVector256(x + 128));
                // A tree, not a chain: five dependent adds per step would cap the loop at 5 cycles.
                sum16 = Avx2.Add(sum16, Avx2.Add(Avx2.Add(Avx2.Add(p0, p1), Avx2.Add(p2, p3)), p4));
            }
            acc = Avx2.Add(acc, Avx2.MultiplyAddAdjacent(sum16, ones));
        }
        return Vector256.Sum(acc);
    }
}
