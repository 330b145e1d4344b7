using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Ternion.IR.Ternary;

/// <summary>Which row kernels the codec uses; tests force each one to check they agree.</summary>
internal enum TernaryKernel { Auto, Scalar, Avx2 }

/// <summary>
/// Row-segment kernels. Everything works on raw bit patterns of the element width (1, 2, 4 or 8
/// bytes): decoding picks one of three patterns (-scale, +0, +scale) per trit, encoding compares
/// with two patterns (+scale, -scale) and a zero test, so float32, float16, bfloat16, double and
/// int8 trits share one kernel per width and stay bit-exact by construction.
/// A segment starts on a byte boundary (its first trit is digit 0 of a byte); its length is any count.
/// </summary>
internal static unsafe class TernaryKernels
{
    /// <summary>
    /// Weights 81, 27, 9, 3, 1 one byte apart. For x = five digit bytes d0..d4 (little-endian) the
    /// product's byte 4 collects d0 + 3 d1 + 9 d2 + 27 d3 + 81 d4 &lt;= 242; every lower byte sums to
    /// at most 240, so nothing carries into it, and bytes above x's fifth land above bit 39.
    /// </summary>
    internal const ulong CombineMultiplier = 0x01_03_09_1B_51UL;

    /// <summary>
    /// ceil(2^16 / 3^(i+1)): (b * C_i) mod 2^16 is frac(b / 3^(i+1)) in 16-bit fixed point, slightly
    /// high by at most 242 / 2^16, which is less than the 1/243 gap to the next digit boundary, so
    /// (that * 3) >> 16 is exactly digit i of b for every b &lt; 243.
    /// </summary>
    internal static ReadOnlySpan<ushort> DigitMultipliers => [21846, 7282, 2428, 810, 270];

    /// <summary>Digits (trit + 1) of every byte, 5 per byte; reserved bytes give zero trits (index 1).</summary>
    private static readonly byte[] s_digits = BuildDigits();

    private static byte[] BuildDigits()
    {
        var d = new byte[256 * 5];
        var lut = TernaryLut.Table;
        for (int i = 0; i < d.Length; i++) d[i] = (byte)(lut[i] + 1);
        return d;
    }

    internal static bool Avx2Usable => Avx2.IsSupported;

    internal static TernaryKernel Resolve(TernaryKernel k) => k switch
    {
        TernaryKernel.Auto => Avx2.IsSupported ? TernaryKernel.Avx2 : TernaryKernel.Scalar,
        TernaryKernel.Avx2 when !Avx2.IsSupported => throw new PlatformNotSupportedException("AVX2 is not available on this CPU"),
        _ => k,
    };

    // ---------------------------------------------------------------- decode

    /// <summary>Decodes <paramref name="count"/> trits from <paramref name="src"/> into patterns; bytes must be &lt; 243 (checked by the caller).</summary>
    internal static void DecodeSegment<T>(TernaryKernel kernel, byte* src, T* dst, int count, T neg, T pos)
        where T : unmanaged, IBinaryInteger<T>
    {
        int done = 0;
        if (kernel == TernaryKernel.Avx2)
        {
            if (sizeof(T) == 1) done = Avx2Decode1(src, (byte*)dst, count, Unsafe.BitCast<T, byte>(neg), Unsafe.BitCast<T, byte>(pos));
            else if (sizeof(T) == 2) done = Avx2Decode2(src, (ushort*)dst, count, Unsafe.BitCast<T, ushort>(neg), Unsafe.BitCast<T, ushort>(pos));
            else if (sizeof(T) == 4) done = Avx2Decode4(src, (uint*)dst, count, Unsafe.BitCast<T, uint>(neg), Unsafe.BitCast<T, uint>(pos));
            else if (sizeof(T) == 8) done = Avx2Decode8(src, (ulong*)dst, count, Unsafe.BitCast<T, ulong>(neg), Unsafe.BitCast<T, ulong>(pos));
        }
        // Vector kernels stop on a byte boundary (whole groups), so the rest starts at digit 0 again.
        DecodeScalar(src + done / 5, dst + done, count - done, neg, pos);
    }

    internal static void DecodeScalar<T>(byte* src, T* dst, int count, T neg, T pos) where T : unmanaged, IBinaryInteger<T>
    {
        T* pat = stackalloc T[3];
        pat[0] = neg; pat[1] = T.Zero; pat[2] = pos;
        fixed (byte* digits = s_digits)
        {
            int k = 0;
            for (; k + 5 <= count; k += 5)
            {
                byte* d = digits + *src++ * 5;
                dst[k] = pat[d[0]]; dst[k + 1] = pat[d[1]]; dst[k + 2] = pat[d[2]]; dst[k + 3] = pat[d[3]]; dst[k + 4] = pat[d[4]];
            }
            if (k < count)
            {
                byte* d = digits + *src * 5;
                for (int i = 0; k < count; k++, i++) dst[k] = pat[d[i]];
            }
        }
    }

    /// <summary>Offset of the first byte &gt;= 243 in [0, length), or -1.</summary>
    internal static long FirstReserved(TernaryKernel kernel, byte* p, long length)
    {
        long i = 0;
        if (kernel == TernaryKernel.Avx2)
        {
            // Unsigned max of a whole stretch, then locate only if needed: rows are clean almost always.
            var limit = Vector256.Create((byte)(TernaryLut.FirstReservedByte - 1));
            for (; i + 128 <= length; i += 128)
            {
                var m = Avx2.Max(Avx2.Max(Avx.LoadVector256(p + i), Avx.LoadVector256(p + i + 32)),
                                 Avx2.Max(Avx.LoadVector256(p + i + 64), Avx.LoadVector256(p + i + 96)));
                if (!Avx2.CompareEqual(Avx2.Max(m, limit), limit).Equals(Vector256<byte>.AllBitsSet)) break;
            }
        }
        for (; i < length; i++)
            if (p[i] >= TernaryLut.FirstReservedByte) return i;
        return -1;
    }

    // Tables for the vector decoders, built once: pshufb controls that put the right source byte
    // under each lane, and per-lane digit multipliers. Pinned so the kernels can load them by pointer.
    private static readonly byte[] s_tables = BuildVectorTables();
    private const int T1Ctrl = 0, T1Mul = T1Ctrl + 10 * 32, T2Ctrl = T1Mul + 10 * 32, T2Mul = T2Ctrl + 5 * 32,
        T4Ctrl = T2Mul + 5 * 32, T4Mul = T4Ctrl + 5 * 32, T8Ctrl = T4Mul + 5 * 32, T8Mul = T8Ctrl + 10 * 32, TableBytes = T8Mul + 10 * 32;
    private static byte[] BuildVectorTables()
    {
        var t = GC.AllocateArray<byte>(TableBytes, pinned: true);
        var mul = DigitMultipliers;
        void Word(int at, int word, int lowByte, ushort m, int mulAt)
        {
            t[at + 2 * word] = (byte)lowByte; t[at + 2 * word + 1] = 0x80;
            t[mulAt + 2 * word] = (byte)m; t[mulAt + 2 * word + 1] = (byte)(m >> 8);
        }
        // Width 1: two word vectors A, B per output vector; packuswb interleaves their 128-bit halves,
        // so A holds trits 0-7 and 16-23 and B holds 8-15 and 24-31 of the 32.
        for (int j = 0; j < 5; j++)
            for (int half = 0; half < 2; half++)
                for (int l = 0; l < 16; l++)
                {
                    int e = 32 * j + (l < 8 ? l : 16 + l - 8) + 8 * half;
                    int at = T1Ctrl + (2 * j + half) * 32, mulAt = T1Mul + (2 * j + half) * 32;
                    Word(at, l, e / 5 - Window1(j), mul[e % 5], mulAt);
                }
        // Width 2: 16 source bytes in both halves; word lane l of vector j is trit 16 j + l.
        for (int j = 0; j < 5; j++)
            for (int l = 0; l < 16; l++)
            {
                int e = 16 * j + l;
                Word(T2Ctrl + j * 32, l, e / 5, mul[e % 5], T2Mul + j * 32);
            }
        // Width 4: 8 source bytes; the byte goes under the low word of each dword, the high word stays 0.
        for (int j = 0; j < 5; j++)
            for (int l = 0; l < 8; l++)
            {
                int e = 8 * j + l;
                Word(T4Ctrl + j * 32, 2 * l, e / 5, mul[e % 5], T4Mul + j * 32);
                Word(T4Ctrl + j * 32, 2 * l + 1, 0x80, 0, T4Mul + j * 32);
            }
        // Width 8: both dwords of a qword get the digit, so adding [0, 4] indexes the pattern's low and high halves.
        for (int j = 0; j < 10; j++)
            for (int l = 0; l < 4; l++)
            {
                int e = 4 * j + l;
                for (int h = 0; h < 2; h++)
                {
                    Word(T8Ctrl + j * 32, 4 * l + 2 * h, e / 5, mul[e % 5], T8Mul + j * 32);
                    Word(T8Ctrl + j * 32, 4 * l + 2 * h + 1, 0x80, 0, T8Mul + j * 32);
                }
            }
        return t;
    }

    private static Vector256<byte> Tab(byte* t, int at) => Avx.LoadVector256(t + at);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<ushort> Digits(Vector256<byte> src, Vector256<byte> ctrl, Vector256<ushort> mul, Vector256<ushort> three) =>
        Avx2.MultiplyHigh(Avx2.MultiplyLow(Avx2.Shuffle(src, ctrl).AsUInt16(), mul), three);

    /// <summary>32 bytes -> 160 int8 patterns per step. Returns the trits done (a multiple of 5).</summary>
    private static int Avx2Decode1(byte* src, byte* dst, int count, byte neg, byte pos)
    {
        fixed (byte* t = s_tables)
        {
            var three = Vector256.Create((ushort)3);
            var pat = Vector256.Create(neg, 0, pos, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, neg, 0, pos, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0);
            int k = 0;
            for (; k + 160 <= count; k += 160, src += 32, dst += 160)
            {
                for (int j = 0; j < 5; j++)
                {
                    var b = Avx2.BroadcastScalarToVector256((ulong*)(src + Window1(j))).AsByte();
                    var a = Digits(b, Tab(t, T1Ctrl + 64 * j), Tab(t, T1Mul + 64 * j).AsUInt16(), three);
                    var c = Digits(b, Tab(t, T1Ctrl + 64 * j + 32), Tab(t, T1Mul + 64 * j + 32).AsUInt16(), three);
                    var d = Avx2.PackUnsignedSaturate(a.AsInt16(), c.AsInt16());
                    Avx.Store(dst + 32 * j, Avx2.Shuffle(pat, d));
                }
            }
            return k;
        }
    }

    /// <summary>
    /// Width 1: vector j of 32 trits needs bytes floor(32 j / 5) .. floor((32 j + 31) / 5), all inside an
    /// 8-byte window; the last window starts at 24, not 25, so it never reads past the 32-byte step.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static int Window1(int j) => j switch { 0 => 0, 1 => 6, 2 => 12, 3 => 19, _ => 24 };

    /// <summary>16 bytes -> 80 16-bit patterns per step.</summary>
    private static int Avx2Decode2(byte* src, ushort* dst, int count, ushort neg, ushort pos)
    {
        fixed (byte* t = s_tables)
        {
            var three = Vector256.Create((ushort)3);
            var pat = Vector128.Create(neg, 0, pos, 0, 0, 0, 0, 0).AsByte();
            var patterns = Vector256.Create(pat, pat);
            var dup = Vector256.Create((ushort)0x0202);
            var hiByte = Vector256.Create((ushort)0x0100);
            int k = 0;
            for (; k + 80 <= count; k += 80, src += 16, dst += 80)
            {
                var b = Avx2.BroadcastVector128ToVector256(src);
                for (int j = 0; j < 5; j++)
                {
                    var d = Digits(b, Tab(t, T2Ctrl + 32 * j), Tab(t, T2Mul + 32 * j).AsUInt16(), three);
                    // Word digit d -> byte indices (2d, 2d + 1) of the pattern word.
                    var idx = Avx2.Add(Avx2.MultiplyLow(d, dup), hiByte).AsByte();
                    Avx.Store((byte*)(dst + 16 * j), Avx2.Shuffle(patterns, idx));
                }
            }
            return k;
        }
    }

    /// <summary>8 bytes -> 40 32-bit patterns per step: shuffle, two multiplies and a permute per 8 outputs.</summary>
    private static int Avx2Decode4(byte* src, uint* dst, int count, uint neg, uint pos)
    {
        fixed (byte* t = s_tables)
        {
            var three = Vector256.Create((ushort)3);
            var pat = Vector256.Create(neg, 0u, pos, 0u, 0u, 0u, 0u, 0u);
            var c0 = Tab(t, T4Ctrl); var c1 = Tab(t, T4Ctrl + 32); var c2 = Tab(t, T4Ctrl + 64); var c3 = Tab(t, T4Ctrl + 96); var c4 = Tab(t, T4Ctrl + 128);
            var m0 = Tab(t, T4Mul).AsUInt16(); var m1 = Tab(t, T4Mul + 32).AsUInt16(); var m2 = Tab(t, T4Mul + 64).AsUInt16();
            var m3 = Tab(t, T4Mul + 96).AsUInt16(); var m4 = Tab(t, T4Mul + 128).AsUInt16();
            int k = 0;
            for (; k + 40 <= count; k += 40, src += 8, dst += 40)
            {
                var b = Avx2.BroadcastScalarToVector256((ulong*)src).AsByte();
                Avx.Store(dst, Avx2.PermuteVar8x32(pat, Digits(b, c0, m0, three).AsUInt32()));
                Avx.Store(dst + 8, Avx2.PermuteVar8x32(pat, Digits(b, c1, m1, three).AsUInt32()));
                Avx.Store(dst + 16, Avx2.PermuteVar8x32(pat, Digits(b, c2, m2, three).AsUInt32()));
                Avx.Store(dst + 24, Avx2.PermuteVar8x32(pat, Digits(b, c3, m3, three).AsUInt32()));
                Avx.Store(dst + 32, Avx2.PermuteVar8x32(pat, Digits(b, c4, m4, three).AsUInt32()));
            }
            return k;
        }
    }

    /// <summary>8 bytes -> 40 64-bit patterns per step.</summary>
    private static int Avx2Decode8(byte* src, ulong* dst, int count, ulong neg, ulong pos)
    {
        fixed (byte* t = s_tables)
        {
            var three = Vector256.Create((ushort)3);
            var pat = Vector256.Create((uint)neg, 0u, (uint)pos, 0u, (uint)(neg >> 32), 0u, (uint)(pos >> 32), 0u);
            var hi = Vector256.Create(0u, 4u, 0u, 4u, 0u, 4u, 0u, 4u);
            int k = 0;
            for (; k + 40 <= count; k += 40, src += 8, dst += 40)
            {
                var b = Avx2.BroadcastScalarToVector256((ulong*)src).AsByte();
                for (int j = 0; j < 10; j++)
                {
                    var d = Digits(b, Tab(t, T8Ctrl + 32 * j), Tab(t, T8Mul + 32 * j).AsUInt16(), three).AsUInt32();
                    Avx.Store((uint*)(dst + 4 * j), Avx2.PermuteVar8x32(pat, Avx2.Add(d, hi)));
                }
            }
            return k;
        }
    }

    // ---------------------------------------------------------------- encode

    /// <summary>
    /// Digit of one element: 1 for a zero (any sign), 2 for +scale, 0 for -scale, -1 if none.
    /// A zero scale arrives as s == n == 0 so that only zeros pass.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static int Digit<T>(T v, T s, T n, T zeroMask) where T : unmanaged, IBinaryInteger<T>
    {
        if ((v & zeroMask) == T.Zero) return 1;
        if (v == s) return 2;
        if (v == n) return 0;
        return -1;
    }

    /// <summary>
    /// Encodes <paramref name="count"/> elements into ceil(count / 5) bytes, padding the last group
    /// with zero trits. False if any element is not ternary (what was written is then undefined).
    /// </summary>
    [SkipLocalsInit]
    internal static bool EncodeSegment<T>(TernaryKernel kernel, T* src, int count, byte* dst, T s, T n, T zeroMask)
        where T : unmanaged, IBinaryInteger<T>
    {
        if (kernel != TernaryKernel.Avx2) return EncodeScalar(src, count, dst, s, n, zeroMask);
        const int Chunk = 640;
        byte* digits = stackalloc byte[Chunk + 16];
        for (int pos = 0; pos < count; pos += Chunk)
        {
            int len = Math.Min(Chunk, count - pos);
            int i = 0;
            bool ok = true;
            if (sizeof(T) == 1) ok = Avx2Digits1((byte*)(src + pos), len, digits, Unsafe.BitCast<T, byte>(s), Unsafe.BitCast<T, byte>(n), Unsafe.BitCast<T, byte>(zeroMask), out i);
            else if (sizeof(T) == 2) ok = Avx2Digits2((ushort*)(src + pos), len, digits, Unsafe.BitCast<T, ushort>(s), Unsafe.BitCast<T, ushort>(n), Unsafe.BitCast<T, ushort>(zeroMask), out i);
            else if (sizeof(T) == 4) ok = Avx2Digits4((uint*)(src + pos), len, digits, Unsafe.BitCast<T, uint>(s), Unsafe.BitCast<T, uint>(n), Unsafe.BitCast<T, uint>(zeroMask), out i);
            else if (sizeof(T) == 8) ok = Avx2Digits8((ulong*)(src + pos), len, digits, Unsafe.BitCast<T, ulong>(s), Unsafe.BitCast<T, ulong>(n), Unsafe.BitCast<T, ulong>(zeroMask), out i);
            if (!ok) return false;
            for (; i < len; i++)
            {
                int d = Digit(src[pos + i], s, n, zeroMask);
                if (d < 0) return false;
                digits[i] = (byte)d;
            }
            int groups = (len + 4) / 5;
            for (; i < groups * 5; i++) digits[i] = 1;
            byte* o = dst + pos / 5;
            for (int g = 0; g < groups; g++)
                o[g] = (byte)((Unsafe.ReadUnaligned<ulong>(digits + 5 * g) * CombineMultiplier) >> 32);
        }
        return true;
    }

    internal static bool EncodeScalar<T>(T* src, int count, byte* dst, T s, T n, T zeroMask) where T : unmanaged, IBinaryInteger<T>
    {
        for (int k = 0; k < count; k += 5)
        {
            int b = 0;
            for (int i = 0, w = 1; i < 5; i++, w *= 3)
            {
                int d = k + i < count ? Digit(src[k + i], s, n, zeroMask) : 1;
                if (d < 0) return false;
                b += d * w;
            }
            *dst++ = (byte)b;
        }
        return true;
    }

    // The digit kernels write d = 1 + [v == -s] - [v == +s] for 32 elements per step (the two masks
    // cancel when s == n == 0, leaving the zero's 1) and AND together a per-lane "is one of the three"
    // mask, checked once per call. They stop at a multiple of 32; the caller finishes the rest.

    private static bool Avx2Digits1(byte* src, int len, byte* digits, byte s, byte n, byte zm, out int done)
    {
        var S = Vector256.Create(s); var N = Vector256.Create(n); var Z = Vector256.Create(zm); var one = Vector256.Create((byte)1);
        var ok = Vector256<byte>.AllBitsSet;
        int i = 0;
        for (; i + 32 <= len; i += 32)
        {
            var v = Avx.LoadVector256(src + i);
            var p = Avx2.CompareEqual(v, S); var q = Avx2.CompareEqual(v, N);
            ok = Avx2.And(ok, Avx2.Or(Avx2.Or(p, q), Avx2.CompareEqual(Avx2.And(v, Z), Vector256<byte>.Zero)));
            Avx.Store(digits + i, Avx2.Add(Avx2.Subtract(q, p), one));
        }
        done = i;
        return ok.Equals(Vector256<byte>.AllBitsSet);
    }

    private static bool Avx2Digits2(ushort* src, int len, byte* digits, ushort s, ushort n, ushort zm, out int done)
    {
        var S = Vector256.Create(s); var N = Vector256.Create(n); var Z = Vector256.Create(zm); var one = Vector256.Create((byte)1);
        var ok = Vector256<ushort>.AllBitsSet;
        int i = 0;
        for (; i + 32 <= len; i += 32)
        {
            var t0 = Tern(Avx.LoadVector256(src + i), S, N, Z, ref ok);
            var t1 = Tern(Avx.LoadVector256(src + i + 16), S, N, Z, ref ok);
            // packsswb interleaves 128-bit halves; the qword permute restores element order.
            var b = Avx2.PackSignedSaturate(t0.AsInt16(), t1.AsInt16());
            var ordered = Avx2.Permute4x64(b.AsInt64(), 0b11_01_10_00).AsByte();
            Avx.Store(digits + i, Avx2.Add(ordered, one));
        }
        done = i;
        return ok.Equals(Vector256<ushort>.AllBitsSet);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<ushort> Tern(Vector256<ushort> v, Vector256<ushort> S, Vector256<ushort> N, Vector256<ushort> Z, ref Vector256<ushort> ok)
    {
        var p = Avx2.CompareEqual(v, S); var q = Avx2.CompareEqual(v, N);
        ok = Avx2.And(ok, Avx2.Or(Avx2.Or(p, q), Avx2.CompareEqual(Avx2.And(v, Z), Vector256<ushort>.Zero)));
        return Avx2.Subtract(q, p);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<uint> Tern(Vector256<uint> v, Vector256<uint> S, Vector256<uint> N, Vector256<uint> Z, ref Vector256<uint> ok)
    {
        var p = Avx2.CompareEqual(v, S); var q = Avx2.CompareEqual(v, N);
        ok = Avx2.And(ok, Avx2.Or(Avx2.Or(p, q), Avx2.CompareEqual(Avx2.And(v, Z), Vector256<uint>.Zero)));
        return Avx2.Subtract(q, p);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<ulong> Tern(Vector256<ulong> v, Vector256<ulong> S, Vector256<ulong> N, Vector256<ulong> Z, ref Vector256<ulong> ok)
    {
        var p = Avx2.CompareEqual(v, S); var q = Avx2.CompareEqual(v, N);
        ok = Avx2.And(ok, Avx2.Or(Avx2.Or(p, q), Avx2.CompareEqual(Avx2.And(v, Z), Vector256<ulong>.Zero)));
        return Avx2.Subtract(q, p);
    }

    /// <summary>Four dword vectors of -1/0/+1 -> 32 digit bytes in element order.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<byte> PackDwordTrits(Vector256<uint> t0, Vector256<uint> t1, Vector256<uint> t2, Vector256<uint> t3, Vector256<int> order, Vector256<byte> one)
    {
        var w01 = Avx2.PackSignedSaturate(t0.AsInt32(), t1.AsInt32());
        var w23 = Avx2.PackSignedSaturate(t2.AsInt32(), t3.AsInt32());
        var b = Avx2.PackSignedSaturate(w01, w23);
        return Avx2.Add(Avx2.PermuteVar8x32(b.AsInt32(), order).AsByte(), one);
    }

    private static bool Avx2Digits4(uint* src, int len, byte* digits, uint s, uint n, uint zm, out int done)
    {
        var S = Vector256.Create(s); var N = Vector256.Create(n); var Z = Vector256.Create(zm); var one = Vector256.Create((byte)1);
        var order = Vector256.Create(0, 4, 1, 5, 2, 6, 3, 7);
        var ok = Vector256<uint>.AllBitsSet;
        int i = 0;
        for (; i + 32 <= len; i += 32)
        {
            var t0 = Tern(Avx.LoadVector256(src + i), S, N, Z, ref ok);
            var t1 = Tern(Avx.LoadVector256(src + i + 8), S, N, Z, ref ok);
            var t2 = Tern(Avx.LoadVector256(src + i + 16), S, N, Z, ref ok);
            var t3 = Tern(Avx.LoadVector256(src + i + 24), S, N, Z, ref ok);
            Avx.Store(digits + i, PackDwordTrits(t0, t1, t2, t3, order, one));
        }
        done = i;
        return ok.Equals(Vector256<uint>.AllBitsSet);
    }

    private static bool Avx2Digits8(ulong* src, int len, byte* digits, ulong s, ulong n, ulong zm, out int done)
    {
        var S = Vector256.Create(s); var N = Vector256.Create(n); var Z = Vector256.Create(zm); var one = Vector256.Create((byte)1);
        var order = Vector256.Create(0, 4, 1, 5, 2, 6, 3, 7);
        var low = Vector256.Create(0, 2, 4, 6, 0, 2, 4, 6);
        var ok = Vector256<ulong>.AllBitsSet;
        int i = 0;
        for (; i + 32 <= len; i += 32)
        {
            var t0 = Join(Tern(Avx.LoadVector256(src + i), S, N, Z, ref ok), Tern(Avx.LoadVector256(src + i + 4), S, N, Z, ref ok), low);
            var t1 = Join(Tern(Avx.LoadVector256(src + i + 8), S, N, Z, ref ok), Tern(Avx.LoadVector256(src + i + 12), S, N, Z, ref ok), low);
            var t2 = Join(Tern(Avx.LoadVector256(src + i + 16), S, N, Z, ref ok), Tern(Avx.LoadVector256(src + i + 20), S, N, Z, ref ok), low);
            var t3 = Join(Tern(Avx.LoadVector256(src + i + 24), S, N, Z, ref ok), Tern(Avx.LoadVector256(src + i + 28), S, N, Z, ref ok), low);
            Avx.Store(digits + i, PackDwordTrits(t0, t1, t2, t3, order, one));
        }
        done = i;
        return ok.Equals(Vector256<ulong>.AllBitsSet);
    }

    /// <summary>Low dwords of two qword vectors (values -1/0/+1 fit a dword) as one dword vector.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<uint> Join(Vector256<ulong> a, Vector256<ulong> b, Vector256<int> low)
    {
        var pa = Avx2.PermuteVar8x32(a.AsInt32(), low);
        var pb = Avx2.PermuteVar8x32(b.AsInt32(), low);
        return Avx2.Permute2x128(pa, pb, 0x20).AsUInt32();
    }
}
