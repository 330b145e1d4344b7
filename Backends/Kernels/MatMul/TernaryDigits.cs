using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using Ternion.IR.Ternary;

namespace Ternion.Backends.Kernels;

/// <summary>
/// TTF1 bytes to five planes of digits with AVX-512 VBMI, 64 bytes at a time, no multiply and no
/// division. For b = d0 + 3 d1 + 9 d2 + 27 d3 + 81 d4 (b &lt; 243):
/// <list type="bullet">
/// <item>r = b mod 81 in two steps of r = min(r, r - 81) (unsigned: when r &lt; 81 the subtraction
/// wraps above r, so min keeps r): 4 ops;</item>
/// <item>d4 from b - r, which is 0, 81 or 162: their low six bits (0, 17, 34) differ, so one vpermb
/// over a 64-entry table gives d4: 2 ops;</item>
/// <item>d0..d3 from r &lt; 81 &lt; 128: one vpermi2b each over a 128-entry table held in two registers.</item>
/// </list>
/// Ten ops for 320 trits. Plane i, byte p holds the digit of element 5p + i of the 64-byte chunk,
/// so activations are laid out to match (<see cref="PlaneOrder"/>). A reserved byte (243..255)
/// decodes to some digits without reading outside the tables; callers reject such bytes first.
/// </summary>
internal readonly struct Avx512Digits
{
    public readonly Vector512<byte> Lo0, Hi0, Lo1, Hi1, Lo2, Hi2, Lo3, Hi3, Top;

    /// <summary>Tables that map each digit d (0, 1, 2) to <paramref name="map"/>(d).</summary>
    private Avx512Digits(Func<int, byte> map)
    {
        Span<byte> t = stackalloc byte[128];
        var lo = new Vector512<byte>[4];
        var hi = new Vector512<byte>[4];
        for (int i = 0; i < 4; i++)
        {
            int pow = i == 0 ? 1 : i == 1 ? 3 : i == 2 ? 9 : 27;
            for (int r = 0; r < 128; r++) t[r] = map(r < 81 ? r / pow % 3 : 1);
            lo[i] = Vector512.Create((ReadOnlySpan<byte>)t[..64]);
            hi[i] = Vector512.Create((ReadOnlySpan<byte>)t[64..]);
        }
        (Lo0, Hi0, Lo1, Hi1, Lo2, Hi2, Lo3, Hi3) = (lo[0], hi[0], lo[1], hi[1], lo[2], hi[2], lo[3], hi[3]);
        Span<byte> top = stackalloc byte[64];
        top.Fill(map(1));
        top[0] = map(0);
        top[81 & 63] = map(1);
        top[162 & 63] = map(2);
        Top = Vector512.Create((ReadOnlySpan<byte>)top);
    }

    /// <summary>d = t + 1, for vpmaddubsw.</summary>
    public static readonly Avx512Digits Digits = new(d => (byte)d);
    /// <summary>t as a signed byte.</summary>
    public static readonly Avx512Digits Trits = new(d => (byte)(d - 1));
    /// <summary>
    /// The top byte of the float32 t / 2 (0xBF for -0.5, 0x3F for +0.5, 0 for 0): a byte permute
    /// that moves it to the top of a zeroed dword makes the float itself, with no conversion.
    /// Sums of t x / 2 are exactly half the sums of t x (a power of two commutes with rounding).
    /// </summary>
    public static readonly Avx512Digits HalfFloatTop = new(d => d switch { 0 => 0xBF, 2 => 0x3F, _ => 0 });

    public static bool IsSupported => Avx512Vbmi.IsSupported && Avx512BW.IsSupported;

    /// <summary>
    /// The tables as locals: callers copy them into a <see cref="Tables"/> before their loops so
    /// the JIT keeps all nine in registers instead of reloading them every step.
    /// </summary>
    public Tables Load() => new(Lo0, Hi0, Lo1, Hi1, Lo2, Hi2, Lo3, Hi3, Top);

    public readonly record struct Tables(Vector512<byte> Lo0, Vector512<byte> Hi0, Vector512<byte> Lo1, Vector512<byte> Hi1,
        Vector512<byte> Lo2, Vector512<byte> Hi2, Vector512<byte> Lo3, Vector512<byte> Hi3, Vector512<byte> Top);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Decode(Vector512<byte> lo0, Vector512<byte> hi0, Vector512<byte> lo1, Vector512<byte> hi1,
        Vector512<byte> lo2, Vector512<byte> hi2, Vector512<byte> lo3, Vector512<byte> hi3, Vector512<byte> top, Vector512<byte> c81,
        Vector512<byte> b, out Vector512<byte> d0, out Vector512<byte> d1, out Vector512<byte> d2, out Vector512<byte> d3, out Vector512<byte> d4)
    {
        var r = Avx512BW.Min(b, b - c81);
        r = Avx512BW.Min(r, r - c81);
        d4 = Avx512Vbmi.PermuteVar64x8(top, b - r);
        d0 = Avx512Vbmi.PermuteVar64x8x2(lo0, r, hi0);
        d1 = Avx512Vbmi.PermuteVar64x8x2(lo1, r, hi1);
        d2 = Avx512Vbmi.PermuteVar64x8x2(lo2, r, hi2);
        d3 = Avx512Vbmi.PermuteVar64x8x2(lo3, r, hi3);
    }
}

/// <summary>
/// TTF1 bytes to five planes of digits with AVX2, 32 bytes at a time (the decode measured on Zen 3
/// in bench/kernels.md). It never forms trits: it splits each byte b = 16h + l and, with 16-entry
/// vpshufb tables indexed by h, writes b = 9a + s with a = floor(16h / 9) and s = (16h mod 9) + l
/// in 0..23; two compares give the carry floor(s / 9), so n = b mod 9 (digits 0 and 1) and
/// Q = floor(b / 9) = a + carry (digits 2, 3, 4) come out without a multiply, and each digit is one
/// more table lookup. 7 shuffles, 1 shift and 10 simple ops per 32 bytes.
/// </summary>
internal static class Avx2Digits
{
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

    public static bool IsSupported => Avx2.IsSupported;

    /// <summary>
    /// The five tables and four constants as locals: callers copy them into registers before their
    /// loops (with 16 ymm registers on AVX2-only CPUs, reloading them every step costs more than the decode).
    /// </summary>
    public readonly record struct Tables(Vector256<byte> Rest, Vector256<byte> A0, Vector256<byte> A1, Vector256<byte> Low, Vector256<byte> High);

    public static Tables Load() => new(s_rest, s_a0, s_a1, s_low, s_high);

    /// <summary>Digits d = t + 1 of 32 bytes; plane i, byte p is element 5p + i of the chunk.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Decode(Vector256<byte> b,
        out Vector256<byte> d0, out Vector256<byte> d1, out Vector256<byte> d2, out Vector256<byte> d3, out Vector256<byte> d4) =>
        Decode(s_rest, s_a0, s_a1, s_low, s_high, b, out d0, out d1, out d2, out d3, out d4);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Decode(Vector256<byte> rest, Vector256<byte> a0, Vector256<byte> a1, Vector256<byte> low, Vector256<byte> high, Vector256<byte> b,
        out Vector256<byte> d0, out Vector256<byte> d1, out Vector256<byte> d2, out Vector256<byte> d3, out Vector256<byte> d4)
    {
        var nibble = Vector256.Create((byte)0x0F);
        var eight = Vector256.Create((sbyte)8);
        var seventeen = Vector256.Create((sbyte)17);
        var nine = Vector256.Create((byte)9);
        // vpsrlw moves the odd byte's low nibble into bits 4-7 of the even byte: mask it off.
        var h = Avx2.And(Avx2.ShiftRightLogical(b.AsUInt16(), 4).AsByte(), nibble);
        var s = Avx2.Add(Avx2.Shuffle(rest, h), b);                                    // 0..23
        var c1 = Avx2.CompareGreaterThan(s.AsSByte(), eight).AsByte();                 // s >= 9
        var c2 = Avx2.CompareGreaterThan(s.AsSByte(), seventeen).AsByte();             // s >= 18
        var n = Avx2.Subtract(s, Avx2.And(c1, nine));                                  // 0..14, = b mod 9 (mod 9)
        var t = Avx2.Subtract(Avx2.Subtract(Avx2.Shuffle(a0, h), c1), c2);            // a0 + carry, 0..10
        d4 = Avx2.Subtract(Avx2.Shuffle(a1, h), Avx2.CompareGreaterThan(t.AsSByte(), eight).AsByte());
        d0 = Avx2.Shuffle(low, n);
        d1 = Avx2.Shuffle(high, n);
        d2 = Avx2.Shuffle(low, t);
        d3 = Avx2.Shuffle(high, t);
    }
}

/// <summary>
/// The order the vector kernels read activations in, so that every weight byte stays in place:
/// per chunk of <c>c</c> weight bytes (64 for AVX-512, 32 for AVX2, 1 for the scalar kernels,
/// which is the natural order), five planes of <c>c</c> values, plane i holding element 5p + i of
/// the chunk at position p. Elements past K (block padding) are zero, so padding trits add nothing.
/// </summary>
internal static unsafe class PlaneOrder
{
    public static int ChunkBytes(GemvIsa isa) => isa switch { GemvIsa.Avx512 => 64, GemvIsa.Avx2 => 32, _ => 1 };

    /// <summary>Writes <paramref name="rowBytes"/> * 5 values: <paramref name="x"/> (K of them) permuted, then zeros.</summary>
    public static void Permute<T>(ReadOnlySpan<T> x, int rowBytes, int chunkBytes, T* dst) where T : unmanaged =>
        Permute(x, rowBytes, chunkBytes, dst, Identity);

    /// <summary>
    /// The float32 order of the AVX-512 kernels: plane order, and inside each 64-value plane the
    /// value of byte p = 16 L + 4 q + j at 16 q + 4 L + j. A vpshufb (which stays inside 128-bit
    /// lanes) then widens plane bytes 4q..4q+3 of every lane into the 16 floats of quarter q,
    /// where a byte permute across lanes would cost more.
    /// </summary>
    public static void PermuteFloatAvx512(ReadOnlySpan<float> x, int rowBytes, float* dst) => Permute(x, rowBytes, 64, dst, Avx512FloatPosition);

    /// <summary>Where byte p of a 64-byte plane lands in the AVX-512 float order.</summary>
    public static int Avx512FloatPosition(int p) => (p >> 2 & 3) * 16 + (p >> 4) * 4 + (p & 3);

    /// <summary>The same for AVX2's 32-byte planes (two 128-bit lanes): byte p = 16 L + 4 q + j lands at 8 q + 4 L + j.</summary>
    public static void PermuteFloatAvx2(ReadOnlySpan<float> x, int rowBytes, float* dst) => Permute(x, rowBytes, 32, dst, Avx2FloatPosition);

    public static int Avx2FloatPosition(int p) => (p >> 2 & 3) * 8 + (p >> 4) * 4 + (p & 3);

    private static int Identity(int p) => p;

    private static void Permute<T>(ReadOnlySpan<T> x, int rowBytes, int chunkBytes, T* dst, Func<int, int> position) where T : unmanaged
    {
        int k = x.Length;
        if (chunkBytes == 1)
        {
            x.CopyTo(new Span<T>(dst, k));
            new Span<T>(dst + k, rowBytes * 5 - k).Clear();
            return;
        }
        int chunkTrits = chunkBytes * 5;
        Span<int> at = stackalloc int[chunkBytes];
        for (int p = 0; p < chunkBytes; p++) at[p] = position(p);
        for (int c = 0; c < rowBytes / chunkBytes; c++)
        {
            T* chunk = dst + chunkTrits * c;
            int from = chunkTrits * c;
            for (int p = 0; p < chunkBytes; p++)
                for (int i = 0; i < 5; i++)
                {
                    int e = from + 5 * p + i;
                    chunk[chunkBytes * i + at[p]] = e < k ? x[e] : default;
                }
        }
    }
}
