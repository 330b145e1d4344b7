using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Ternion.IR.Ternary;

/// <summary>Which row kernels the codec uses; tests force each one to check they agree.</summary>
internal enum TernaryKernel { Auto, Scalar, Avx2 }

/// <summary>How vector decoders write: a struct type argument, so each policy gets its own loop without a branch.</summary>
internal unsafe interface IStorePolicy
{
    static abstract void Store(byte* at, Vector256<byte> v);
    static abstract void Store(byte* at, Vector128<byte> v);
}

internal unsafe struct CachedStores : IStorePolicy
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Store(byte* at, Vector256<byte> v) => Avx.Store(at, v);
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Store(byte* at, Vector128<byte> v) => Sse2.Store(at, v);
}

/// <summary>
/// Streaming stores for outputs far larger than the caches: they skip the read-for-ownership of
/// every destination line, which otherwise doubles the memory traffic of a write-bound decoder.
/// The destination must be aligned to the store's size.
/// </summary>
internal unsafe struct StreamingStores : IStorePolicy
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Store(byte* at, Vector256<byte> v) => Avx.StoreAlignedNonTemporal(at, v);
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Store(byte* at, Vector128<byte> v) => Sse2.StoreAlignedNonTemporal(at, v);
}

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

    /// <summary>
    /// Decodes <paramref name="count"/> trits from <paramref name="src"/> into patterns; bytes must be
    /// &lt; 243 (checked by the caller). With <paramref name="streaming"/>, the vector part bypasses the
    /// caches after a short scalar lead-in that brings the destination to a 32-byte boundary.
    /// </summary>
    internal static void DecodeSegment<T>(TernaryKernel kernel, byte* src, T* dst, int count, T neg, T pos, bool streaming = false)
        where T : unmanaged, IBinaryInteger<T>
    {
        int done = 0;
        if (kernel == TernaryKernel.Avx2)
        {
            if (streaming && ((nint)dst & (sizeof(T) - 1)) == 0)
            {
                // Trits decoded before the vector loop: a multiple of 5 (whole bytes) that aligns the output.
                int lead = 0;
                while (lead < count && ((nint)(dst + lead) & 31) != 0) lead += 5;
                if (lead < count)
                {
                    DecodeScalar(src, dst, lead, neg, pos);
                    done = lead + DecodeVector<T, StreamingStores>(src + lead / 5, dst + lead, count - lead, neg, pos);
                    Sse.StoreFence();
                }
            }
            else done = DecodeVector<T, CachedStores>(src, dst, count, neg, pos);
        }
        // Vector kernels stop on a byte boundary (whole groups), so the rest starts at digit 0 again.
        DecodeScalar(src + done / 5, dst + done, count - done, neg, pos);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static int DecodeVector<T, TStore>(byte* src, T* dst, int count, T neg, T pos)
        where T : unmanaged, IBinaryInteger<T> where TStore : struct, IStorePolicy
    {
        if (sizeof(T) == 1) return Avx2Decode1<TStore>(src, (byte*)dst, count, Unsafe.BitCast<T, byte>(neg), Unsafe.BitCast<T, byte>(pos));
        if (sizeof(T) == 2) return Avx2Decode2<TStore>(src, (ushort*)dst, count, Unsafe.BitCast<T, ushort>(neg), Unsafe.BitCast<T, ushort>(pos));
        if (sizeof(T) == 4) return Avx2Decode4<TStore>(src, (uint*)dst, count, Unsafe.BitCast<T, uint>(neg), Unsafe.BitCast<T, uint>(pos));
        return Avx2Decode8<TStore>(src, (ulong*)dst, count, Unsafe.BitCast<T, ulong>(neg), Unsafe.BitCast<T, ulong>(pos));
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
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
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
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
            // Blocks are 64 or 128 bytes: the strided decoder checks one per row, so whole
            // 32-byte steps matter as much as the long ones.
            for (; i + 32 <= length; i += 32)
            {
                var v = Avx.LoadVector256(p + i);
                if (!Avx2.CompareEqual(Avx2.Max(v, limit), limit).Equals(Vector256<byte>.AllBitsSet)) break;
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
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static int Avx2Decode1<TStore>(byte* src, byte* dst, int count, byte neg, byte pos) where TStore : struct, IStorePolicy
    {
        fixed (byte* t = s_tables)
        {
            var three = Vector256.Create((ushort)3);
            var pat = Vector256.Create(neg, 0, pos, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, neg, 0, pos, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0);
            int k = 0;
            // Unrolled by hand: the JIT does not unroll, and constant offsets let it fold the table loads.
            for (; k + 160 <= count; k += 160, src += 32, dst += 160)
            {
                TStore.Store(dst, Step1(src, t, 0, pat, three));
                TStore.Store(dst + 32, Step1(src, t, 1, pat, three));
                TStore.Store(dst + 64, Step1(src, t, 2, pat, three));
                TStore.Store(dst + 96, Step1(src, t, 3, pat, three));
                TStore.Store(dst + 128, Step1(src, t, 4, pat, three));
            }
            return k;
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<byte> Step1(byte* src, byte* t, int j, Vector256<byte> pat, Vector256<ushort> three)
    {
        var b = Avx2.BroadcastScalarToVector256((ulong*)(src + Window1(j))).AsByte();
        var a = Digits(b, Tab(t, T1Ctrl + 64 * j), Tab(t, T1Mul + 64 * j).AsUInt16(), three);
        var c = Digits(b, Tab(t, T1Ctrl + 64 * j + 32), Tab(t, T1Mul + 64 * j + 32).AsUInt16(), three);
        return Avx2.Shuffle(pat, Avx2.PackUnsignedSaturate(a.AsInt16(), c.AsInt16()));
    }

    /// <summary>
    /// Width 1: vector j of 32 trits needs bytes floor(32 j / 5) .. floor((32 j + 31) / 5), all inside an
    /// 8-byte window; the last window starts at 24, not 25, so it never reads past the 32-byte step.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static int Window1(int j) => j switch { 0 => 0, 1 => 6, 2 => 12, 3 => 19, _ => 24 };

    /// <summary>16 bytes -> 80 16-bit patterns per step.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static int Avx2Decode2<TStore>(byte* src, ushort* dst, int count, ushort neg, ushort pos) where TStore : struct, IStorePolicy
    {
        fixed (byte* t = s_tables)
        {
            var three = Vector256.Create((ushort)3);
            var pat = Vector128.Create(neg, 0, pos, 0, 0, 0, 0, 0).AsByte();
            var patterns = Vector256.Create(pat, pat);
            int k = 0;
            for (; k + 80 <= count; k += 80, src += 16, dst += 80)
            {
                var b = Avx2.BroadcastVector128ToVector256(src);
                TStore.Store((byte*)dst, Step2(b, t, 0, patterns, three));
                TStore.Store((byte*)(dst + 16), Step2(b, t, 1, patterns, three));
                TStore.Store((byte*)(dst + 32), Step2(b, t, 2, patterns, three));
                TStore.Store((byte*)(dst + 48), Step2(b, t, 3, patterns, three));
                TStore.Store((byte*)(dst + 64), Step2(b, t, 4, patterns, three));
            }
            return k;
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<byte> Step2(Vector256<byte> b, byte* t, int j, Vector256<byte> patterns, Vector256<ushort> three)
    {
        var d = Digits(b, Tab(t, T2Ctrl + 32 * j), Tab(t, T2Mul + 32 * j).AsUInt16(), three);
        // Word digit d -> byte indices (2d, 2d + 1) of the pattern word: d * 0x0202 + 0x0100.
        var idx = Avx2.Add(Avx2.MultiplyLow(d, Vector256.Create((ushort)0x0202)), Vector256.Create((ushort)0x0100)).AsByte();
        return Avx2.Shuffle(patterns, idx);
    }

    /// <summary>8 bytes -> 40 32-bit patterns per step: shuffle, two multiplies and a permute per 8 outputs.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static int Avx2Decode4<TStore>(byte* src, uint* dst, int count, uint neg, uint pos) where TStore : struct, IStorePolicy
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
                TStore.Store((byte*)(dst), Avx2.PermuteVar8x32(pat, Digits(b, c0, m0, three).AsUInt32()).AsByte());
                TStore.Store((byte*)(dst + 8), Avx2.PermuteVar8x32(pat, Digits(b, c1, m1, three).AsUInt32()).AsByte());
                TStore.Store((byte*)(dst + 16), Avx2.PermuteVar8x32(pat, Digits(b, c2, m2, three).AsUInt32()).AsByte());
                TStore.Store((byte*)(dst + 24), Avx2.PermuteVar8x32(pat, Digits(b, c3, m3, three).AsUInt32()).AsByte());
                TStore.Store((byte*)(dst + 32), Avx2.PermuteVar8x32(pat, Digits(b, c4, m4, three).AsUInt32()).AsByte());
            }
            return k;
        }
    }

    /// <summary>8 bytes -> 40 64-bit patterns per step.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static int Avx2Decode8<TStore>(byte* src, ulong* dst, int count, ulong neg, ulong pos) where TStore : struct, IStorePolicy
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
                TStore.Store((byte*)dst, Step8(b, t, 0, pat, hi, three).AsByte());
                TStore.Store((byte*)(dst + 4), Step8(b, t, 1, pat, hi, three).AsByte());
                TStore.Store((byte*)(dst + 8), Step8(b, t, 2, pat, hi, three).AsByte());
                TStore.Store((byte*)(dst + 12), Step8(b, t, 3, pat, hi, three).AsByte());
                TStore.Store((byte*)(dst + 16), Step8(b, t, 4, pat, hi, three).AsByte());
                TStore.Store((byte*)(dst + 20), Step8(b, t, 5, pat, hi, three).AsByte());
                TStore.Store((byte*)(dst + 24), Step8(b, t, 6, pat, hi, three).AsByte());
                TStore.Store((byte*)(dst + 28), Step8(b, t, 7, pat, hi, three).AsByte());
                TStore.Store((byte*)(dst + 32), Step8(b, t, 8, pat, hi, three).AsByte());
                TStore.Store((byte*)(dst + 36), Step8(b, t, 9, pat, hi, three).AsByte());
            }
            return k;
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<uint> Step8(Vector256<byte> b, byte* t, int j, Vector256<uint> pat, Vector256<uint> hi, Vector256<ushort> three)
    {
        var d = Digits(b, Tab(t, T8Ctrl + 32 * j), Tab(t, T8Mul + 32 * j).AsUInt16(), three).AsUInt32();
        return Avx2.PermuteVar8x32(pat, Avx2.Add(d, hi));
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
    [SkipLocalsInit, MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static bool EncodeSegment<T>(TernaryKernel kernel, T* src, int count, byte* dst, T s, T n, T zeroMask)
        where T : unmanaged, IBinaryInteger<T>
    {
        bool avx2 = kernel == TernaryKernel.Avx2;
        const int Chunk = 640;
        byte* digits = stackalloc byte[Chunk + 16];
        for (int pos = 0; pos < count; pos += Chunk)
        {
            int len = Math.Min(Chunk, count - pos);
            int i = 0;
            bool ok = true;
            if (!avx2) { }
            else if (sizeof(T) == 1) ok = Avx2Digits1((byte*)(src + pos), len, digits, Unsafe.BitCast<T, byte>(s), Unsafe.BitCast<T, byte>(n), Unsafe.BitCast<T, byte>(zeroMask), out i);
            else if (sizeof(T) == 2) ok = Avx2Digits2((ushort*)(src + pos), len, digits, Unsafe.BitCast<T, ushort>(s), Unsafe.BitCast<T, ushort>(n), Unsafe.BitCast<T, ushort>(zeroMask), out i);
            else if (sizeof(T) == 4) ok = Avx2Digits4((uint*)(src + pos), len, digits, Unsafe.BitCast<T, uint>(s), Unsafe.BitCast<T, uint>(n), Unsafe.BitCast<T, uint>(zeroMask), out i);
            else if (sizeof(T) == 8) ok = Avx2Digits8((ulong*)(src + pos), len, digits, Unsafe.BitCast<T, ulong>(s), Unsafe.BitCast<T, ulong>(n), Unsafe.BitCast<T, ulong>(zeroMask), out i);
            if (!ok || !ScalarDigits(src + pos + i, len - i, digits + i, s, n, zeroMask)) return false;
            int groups = (len + 4) / 5;
            for (i = len; i < groups * 5; i++) digits[i] = 1;
            int vectorGroups = avx2 ? CombineAvx2(digits, dst + pos / 5, groups) : 0;
            Combine(digits + 5 * vectorGroups, dst + pos / 5 + vectorGroups, groups - vectorGroups);
        }
        return true;
    }

    /// <summary>The digit rule without branches: d = 1 + [v == s] - [v == n]; unmatched non-zero bits mean failure.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static bool ScalarDigits<T>(T* src, int len, byte* digits, T s, T n, T zeroMask) where T : unmanaged, IBinaryInteger<T>
    {
        T unmatched = T.Zero;
        for (int i = 0; i < len; i++)
        {
            T v = src[i];
            int p = v == s ? 1 : 0, q = v == n ? 1 : 0;
            unmatched |= (p | q) == 0 ? v : T.Zero;
            digits[i] = (byte)(1 + p - q);
        }
        return (unmatched & zeroMask) == T.Zero;
    }

    /// <summary>Five digit bytes per group -> one packed byte per group (see <see cref="CombineMultiplier"/>).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Combine(byte* digits, byte* o, int groups)
    {
        byte* end = o + groups;
        for (; o + 4 <= end; o += 4, digits += 20)
        {
            o[0] = (byte)((Unsafe.ReadUnaligned<ulong>(digits) * CombineMultiplier) >> 32);
            o[1] = (byte)((Unsafe.ReadUnaligned<ulong>(digits + 5) * CombineMultiplier) >> 32);
            o[2] = (byte)((Unsafe.ReadUnaligned<ulong>(digits + 10) * CombineMultiplier) >> 32);
            o[3] = (byte)((Unsafe.ReadUnaligned<ulong>(digits + 15) * CombineMultiplier) >> 32);
        }
        for (; o < end; o++, digits += 5)
            *o = (byte)((Unsafe.ReadUnaligned<ulong>(digits) * CombineMultiplier) >> 32);
    }

    /// <summary>
    /// 32 groups per step: each 128-bit lane takes two groups (10 digits) from an unaligned load, a
    /// shuffle spreads them into 8-byte slots [d0..d4, 0, 0, 0], pmaddubsw weights them into words
    /// (d0 + 3 d1, 9 d2 + 27 d3, 81 d4, 0), all below 256, so psadbw against zero adds the slot up.
    /// Packs and one cross-lane interleave then put the 32 sums in group order.
    /// </summary>
    private static int CombineAvx2(byte* digits, byte* o, int groups)
    {
        var slots = Vector256.Create((byte)0, 1, 2, 3, 4, 0x80, 0x80, 0x80, 5, 6, 7, 8, 9, 0x80, 0x80, 0x80,
                                     0, 1, 2, 3, 4, 0x80, 0x80, 0x80, 5, 6, 7, 8, 9, 0x80, 0x80, 0x80);
        var weights = Vector256.Create((sbyte)1, 3, 9, 27, 81, 0, 0, 0, 1, 3, 9, 27, 81, 0, 0, 0,
                                       1, 3, 9, 27, 81, 0, 0, 0, 1, 3, 9, 27, 81, 0, 0, 0);
        int g = 0;
        for (; g + 32 <= groups; g += 32, digits += 160, o += 32)
        {
            // q holds groups 4j .. 4j+3 in its qwords, each sum in the qword's low byte.
            var q0 = Sums(digits, slots, weights); var q1 = Sums(digits + 20, slots, weights);
            var q2 = Sums(digits + 40, slots, weights); var q3 = Sums(digits + 60, slots, weights);
            var q4 = Sums(digits + 80, slots, weights); var q5 = Sums(digits + 100, slots, weights);
            var q6 = Sums(digits + 120, slots, weights); var q7 = Sums(digits + 140, slots, weights);
            // Per lane, packusdw twice leaves words (g0 g1 g4 g5 g8 g9 g12 g13 | g2 g3 g6 g7 ...),
            // packuswb the same with bytes: pairs of groups alternate between the two lanes.
            var w01 = Avx2.PackUnsignedSaturate(q0.AsInt32(), q1.AsInt32());
            var w23 = Avx2.PackUnsignedSaturate(q2.AsInt32(), q3.AsInt32());
            var w45 = Avx2.PackUnsignedSaturate(q4.AsInt32(), q5.AsInt32());
            var w67 = Avx2.PackUnsignedSaturate(q6.AsInt32(), q7.AsInt32());
            var x0 = Avx2.PackUnsignedSaturate(w01.AsInt32(), w23.AsInt32());
            var x1 = Avx2.PackUnsignedSaturate(w45.AsInt32(), w67.AsInt32());
            var b = Avx2.PackUnsignedSaturate(x0.AsInt16(), x1.AsInt16()).AsUInt64();
            // Interleave the 16-bit pairs of the low lane with those of the high lane.
            var lo = Avx2.Permute4x64(b, 0b01_01_01_00).AsUInt16();
            var hi = Avx2.Permute4x64(b, 0b11_11_11_10).AsUInt16();
            Avx.Store(o, Avx2.UnpackLow(lo, hi).AsByte());
        }
        return g;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<ulong> Sums(byte* digits, Vector256<byte> slots, Vector256<sbyte> weights)
    {
        var v = Vector256.Create(Sse2.LoadVector128(digits), Sse2.LoadVector128(digits + 10));
        var w = Avx2.MultiplyAddAdjacent(Avx2.Shuffle(v, slots), weights);
        return Avx2.SumAbsoluteDifferences(w.AsByte(), Vector256<byte>.Zero).AsUInt64();
    }

    // The digit kernels write d = 1 + [v == -s] - [v == +s] for 32 elements per step (the two masks
    // cancel when s == n == 0, leaving the zero's 1). For validity they OR together the bits of every
    // element that matched neither pattern; once per call, those bits outside the sign must all be 0,
    // i.e. every unmatched element was ±0. That costs two operations per vector instead of a zero
    // test plus mask logic. They stop at a multiple of 32; the caller finishes the rest.

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static bool Avx2Digits1(byte* src, int len, byte* digits, byte s, byte n, byte zm, out int done)
    {
        var S = Vector256.Create(s); var N = Vector256.Create(n); var Z = Vector256.Create(zm); var one = Vector256.Create((byte)1);
        var bad = Vector256<byte>.Zero;
        int i = 0;
        for (; i + 32 <= len; i += 32)
        {
            var v = Avx.LoadVector256(src + i);
            var p = Avx2.CompareEqual(v, S); var q = Avx2.CompareEqual(v, N);
            bad = Avx2.Or(bad, Avx2.AndNot(Avx2.Or(p, q), v));
            Avx.Store(digits + i, Avx2.Add(Avx2.Subtract(q, p), one));
        }
        done = i;
        return Avx2.And(bad, Z).Equals(Vector256<byte>.Zero);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static bool Avx2Digits2(ushort* src, int len, byte* digits, ushort s, ushort n, ushort zm, out int done)
    {
        var S = Vector256.Create(s); var N = Vector256.Create(n); var Z = Vector256.Create(zm); var one = Vector256.Create((byte)1);
        var bad = Vector256<ushort>.Zero;
        int i = 0;
        for (; i + 32 <= len; i += 32)
        {
            var t0 = Tern(Avx.LoadVector256(src + i), S, N, ref bad);
            var t1 = Tern(Avx.LoadVector256(src + i + 16), S, N, ref bad);
            // packsswb interleaves 128-bit halves; the qword permute restores element order.
            var b = Avx2.PackSignedSaturate(t0.AsInt16(), t1.AsInt16());
            var ordered = Avx2.Permute4x64(b.AsInt64(), 0b11_01_10_00).AsByte();
            Avx.Store(digits + i, Avx2.Add(ordered, one));
        }
        done = i;
        return Avx2.And(bad, Z).Equals(Vector256<ushort>.Zero);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<ushort> Tern(Vector256<ushort> v, Vector256<ushort> S, Vector256<ushort> N, ref Vector256<ushort> unmatched)
    {
        var p = Avx2.CompareEqual(v, S); var q = Avx2.CompareEqual(v, N);
        unmatched = Avx2.Or(unmatched, Avx2.AndNot(Avx2.Or(p, q), v));
        return Avx2.Subtract(q, p);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<uint> Tern(Vector256<uint> v, Vector256<uint> S, Vector256<uint> N, ref Vector256<uint> unmatched)
    {
        var p = Avx2.CompareEqual(v, S); var q = Avx2.CompareEqual(v, N);
        unmatched = Avx2.Or(unmatched, Avx2.AndNot(Avx2.Or(p, q), v));
        return Avx2.Subtract(q, p);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<ulong> Tern(Vector256<ulong> v, Vector256<ulong> S, Vector256<ulong> N, ref Vector256<ulong> unmatched)
    {
        var p = Avx2.CompareEqual(v, S); var q = Avx2.CompareEqual(v, N);
        unmatched = Avx2.Or(unmatched, Avx2.AndNot(Avx2.Or(p, q), v));
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

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static bool Avx2Digits4(uint* src, int len, byte* digits, uint s, uint n, uint zm, out int done)
    {
        var S = Vector256.Create(s); var N = Vector256.Create(n); var Z = Vector256.Create(zm); var one = Vector256.Create((byte)1);
        var order = Vector256.Create(0, 4, 1, 5, 2, 6, 3, 7);
        var bad = Vector256<uint>.Zero;
        int i = 0;
        for (; i + 32 <= len; i += 32)
        {
            var t0 = Tern(Avx.LoadVector256(src + i), S, N, ref bad);
            var t1 = Tern(Avx.LoadVector256(src + i + 8), S, N, ref bad);
            var t2 = Tern(Avx.LoadVector256(src + i + 16), S, N, ref bad);
            var t3 = Tern(Avx.LoadVector256(src + i + 24), S, N, ref bad);
            Avx.Store(digits + i, PackDwordTrits(t0, t1, t2, t3, order, one));
        }
        done = i;
        return Avx2.And(bad, Z).Equals(Vector256<uint>.Zero);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static bool Avx2Digits8(ulong* src, int len, byte* digits, ulong s, ulong n, ulong zm, out int done)
    {
        var S = Vector256.Create(s); var N = Vector256.Create(n); var Z = Vector256.Create(zm); var one = Vector256.Create((byte)1);
        var order = Vector256.Create(0, 4, 1, 5, 2, 6, 3, 7);
        var low = Vector256.Create(0, 2, 4, 6, 0, 2, 4, 6);
        var bad = Vector256<ulong>.Zero;
        int i = 0;
        for (; i + 32 <= len; i += 32)
        {
            var t0 = Join(Tern(Avx.LoadVector256(src + i), S, N, ref bad), Tern(Avx.LoadVector256(src + i + 4), S, N, ref bad), low);
            var t1 = Join(Tern(Avx.LoadVector256(src + i + 8), S, N, ref bad), Tern(Avx.LoadVector256(src + i + 12), S, N, ref bad), low);
            var t2 = Join(Tern(Avx.LoadVector256(src + i + 16), S, N, ref bad), Tern(Avx.LoadVector256(src + i + 20), S, N, ref bad), low);
            var t3 = Join(Tern(Avx.LoadVector256(src + i + 24), S, N, ref bad), Tern(Avx.LoadVector256(src + i + 28), S, N, ref bad), low);
            Avx.Store(digits + i, PackDwordTrits(t0, t1, t2, t3, order, one));
        }
        done = i;
        return Avx2.And(bad, Z).Equals(Vector256<ulong>.Zero);
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
