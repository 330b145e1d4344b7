using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Ternion.IR.Ternary;

/// <summary>
/// Kernels for layouts whose channels are strided (axis is not the last dim, e.g. MatMul's [K, N]
/// with axis 0): for one outer index the slab is [K, inner] and channel i's trits run down column i.
/// Rather than transposing, these work vertically: a vector holds 8 neighbouring channels at one k,
/// so the five k of a packed byte are five plain loads and the byte is a vertical multiply-add.
/// Bytes go through a small staging area, one column (8 channels to a qword) at a time, and are
/// transposed 8 x 8 into the packed rows afterwards. That way the slab is swept a few rows at a time
/// (5 when encoding, 1 when decoding) across a chunk of channels: the prefetchers follow a handful of
/// streams, where sweeping 40 rows at once was several times slower once the slab left the caches.
/// Elements of 1, 2 or 4 bytes are widened to 32-bit lanes; 8-byte elements take the scratch path.
/// </summary>
internal static unsafe class TernaryStridedKernels
{
    /// <summary>Channels handled per pass over 40 rows, so the packed lines being filled stay in L2.</summary>
    private const int ChannelChunk = 2048;

    public static bool Supports<T>() where T : unmanaged => sizeof(T) <= 4 && Avx2.IsSupported;

    // ------------------------------------------------------------------ encode

    /// <summary>
    /// Packs trits [k0, k0 + len) of every channel of a slab (len &lt;= block size, k0 a multiple of 5)
    /// into bytes k0 / 5 .. of their rows. False if an element is not ternary.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static bool EncodeBlock<T>(T* slab, long inner, long k0, int len, byte* packed, long rowBytes,
        T* scales, bool perChannel, T signMask, T zeroMask) where T : unmanaged, IBinaryInteger<T>
    {
        int groups = len / 40;                       // full groups of 8 packed columns (40 k)
        long inner8 = inner & ~7L;
        var zm = Vector256.Create(Widen(zeroMask));
        var unmatched = Vector256<uint>.Zero;
        Vector256<uint> S = default, N = default;
        if (!perChannel) (S, N) = Patterns(Vector256.Create(Widen(scales[0])), Vector256.Create(Widen(signMask)), zm);
        // stage[col][tile]: one qword per column and 8-channel tile, a byte per channel.
        ulong* stage = stackalloc ulong[ChannelChunk];
        const int Tiles = ChannelChunk / 8;

        for (long c0 = 0; c0 < inner8; c0 += ChannelChunk)
        {
            long c1 = Math.Min(inner8, c0 + ChannelChunk);
            for (int g = 0; g < groups; g++)
            {
                for (int col = 0; col < 8; col++)
                {
                    T* rows = slab + (k0 + 40L * g + 5 * col) * inner;
                    unmatched = Avx2.Or(unmatched, perChannel
                        ? EncodeColumnPerChannel(rows + c0, inner, (int)(c1 - c0) / 8, stage + col * Tiles, scales + c0, signMask, zeroMask)
                        : EncodeColumn(rows + c0, inner, (int)(c1 - c0) / 8, stage + col * Tiles, S, N));
                }
                for (long i0 = c0; i0 < c1; i0 += 8)
                    Transpose8x8((byte*)(stage + (i0 - c0) / 8), Tiles * 8, packed + i0 * rowBytes + k0 / 5 + 8 * g, rowBytes);
            }
        }
        if (!Avx2.And(unmatched, zm).Equals(Vector256<uint>.Zero)) return false;

        // What the vector loop left: the last channels (inner % 8) in full, and the columns after
        // the full groups for the others.
        int cols = (len + 4) / 5;
        for (long i = 0; i < inner; i++)
            if (!EncodeColumnsScalar(slab, inner, k0, len, i, i < inner8 ? 8 * groups : 0, cols, packed + i * rowBytes,
                    perChannel ? scales[i] : scales[0], signMask, zeroMask))
                return false;
        return true;
    }

    /// <summary>+scale and -scale per lane; a zero scale gives 0 for both so only zeros match.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static (Vector256<uint> S, Vector256<uint> N) Patterns(Vector256<uint> s, Vector256<uint> sign, Vector256<uint> zm)
    {
        var isZero = Avx2.CompareEqual(Avx2.And(s, zm), Vector256<uint>.Zero);
        return (Avx2.AndNot(isZero, s), Avx2.AndNot(isZero, Avx2.Xor(s, sign)));
    }

    /// <summary>t = [v == s] - [v == n] as -1/0/+1 (the masks are -1, so mn - mp); unmatched bits collected.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<int> Term(Vector256<uint> v, Vector256<uint> S, Vector256<uint> N, ref Vector256<uint> unmatched)
    {
        var mp = Avx2.CompareEqual(v, S); var mn = Avx2.CompareEqual(v, N);
        unmatched = Avx2.Or(unmatched, Avx2.AndNot(Avx2.Or(mp, mn), v));
        return Avx2.Subtract(mn, mp).AsInt32();
    }

    // The sweeps below are separate, non-inlined leaves on purpose: inside the nested loops above,
    // the JIT kept loop-invariant vectors in stack slots and stored them back every iteration,
    // which put a store-to-load forwarding delay on every 8 channels.

    /// <summary>
    /// One packed column for <paramref name="tiles"/> x 8 channels: t0 + 3 t1 + 9 t2 + 27 t3 + 81 t4
    /// (-121..121) from five rows, packed to bytes shifted by 121 into 0..242, a qword per tile.
    /// Returns the bits of elements that matched no pattern.
    /// </summary>
    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static Vector256<uint> EncodeColumn<T>(T* p, long inner, int tiles, ulong* out8, Vector256<uint> S, Vector256<uint> N) where T : unmanaged
    {
        var unmatched = Vector256<uint>.Zero;
        for (int t = 0; t < tiles; t++, p += 8)
        {
            out8[t] = PackColumn(p, inner, S, N, ref unmatched);
        }
        return unmatched;
    }

    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static Vector256<uint> EncodeColumnPerChannel<T>(T* p, long inner, int tiles, ulong* out8, T* scales, T signMask, T zeroMask)
        where T : unmanaged
    {
        var unmatched = Vector256<uint>.Zero;
        var sign = Vector256.Create(Widen(signMask)); var zm = Vector256.Create(Widen(zeroMask));
        for (int t = 0; t < tiles; t++, p += 8, scales += 8)
        {
            var (S, N) = Patterns(Load8(scales), sign, zm);
            out8[t] = PackColumn(p, inner, S, N, ref unmatched);
        }
        return unmatched;
    }

    /// <summary>The 8 bytes of one tile: five rows' trits weighted 1, 3, 9, 27, 81 and shifted by 121.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static ulong PackColumn<T>(T* p, long inner, Vector256<uint> S, Vector256<uint> N, ref Vector256<uint> unmatched) where T : unmanaged
    {
        var sum = Term(Load8(p), S, N, ref unmatched);
        sum = Avx2.Add(sum, Avx2.MultiplyLow(Term(Load8(p + inner), S, N, ref unmatched), Vector256.Create(3)));
        sum = Avx2.Add(sum, Avx2.MultiplyLow(Term(Load8(p + 2 * inner), S, N, ref unmatched), Vector256.Create(9)));
        sum = Avx2.Add(sum, Avx2.MultiplyLow(Term(Load8(p + 3 * inner), S, N, ref unmatched), Vector256.Create(27)));
        sum = Avx2.Add(sum, Avx2.MultiplyLow(Term(Load8(p + 4 * inner), S, N, ref unmatched), Vector256.Create(81)));
        var w = Sse2.PackSignedSaturate(sum.GetLower(), sum.GetUpper());
        return Sse2.Add(Sse2.PackSignedSaturate(w, w).AsByte(), Vector128.Create((byte)121)).AsUInt64().ToScalar();
    }

    private static bool EncodeColumnsScalar<T>(T* slab, long inner, long k0, int len, long i, int colFrom, int colTo, byte* row,
        T scale, T signMask, T zeroMask) where T : unmanaged, IBinaryInteger<T>
    {
        T s = scale, n = scale ^ signMask;
        if ((s & zeroMask) == T.Zero) s = n = T.Zero;
        for (int c = colFrom; c < colTo; c++)
        {
            int b = 0;
            for (int d = 0, w = 1; d < 5; d++, w *= 3)
            {
                int k = 5 * c + d;
                int digit = k < len ? TernaryKernels.Digit(slab[(k0 + k) * inner + i], s, n, zeroMask) : 1;
                if (digit < 0) return false;
                b += digit * w;
            }
            row[k0 / 5 + c] = (byte)b;
        }
        return true;
    }

    // ------------------------------------------------------------------ decode

    /// <summary>
    /// Decodes trits [k0, k0 + len) of every channel of a slab into rows k0 .. of the slab. The
    /// bytes must already be known not to be reserved.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void DecodeBlock<T>(byte* packed, long rowBytes, long k0, int len, T* slab, long inner,
        T* scales, bool perChannel, T signMask, bool streaming) where T : unmanaged, IBinaryInteger<T>
    {
        // Streaming stores need every row's stores aligned: 32-bit elements to 32 bytes, 16-bit to 16.
        streaming &= sizeof(T) >= 2 && ((nint)slab & (8 * sizeof(T) - 1)) == 0 && inner % 8 == 0;
        int groups = len / 40;
        long inner8 = inner & ~7L;
        var mul = stackalloc Vector256<ushort>[5];
        var c = TernaryKernels.DigitMultipliers;
        for (int i = 0; i < 5; i++) mul[i] = Vector256.Create((uint)c[i]).AsUInt16();
        Vector256<uint> pat = default;
        if (!perChannel)
        {
            uint s = Widen(scales[0]), n = Widen(scales[0] ^ signMask);
            pat = Vector256.Create(n, 0u, s, 0u, 0u, 0u, 0u, 0u);
        }
        ulong* stage = stackalloc ulong[ChannelChunk];
        const int Tiles = ChannelChunk / 8;

        for (long c0 = 0; c0 < inner8; c0 += ChannelChunk)
        {
            long c1 = Math.Min(inner8, c0 + ChannelChunk);
            for (int g = 0; g < groups; g++)
            {
                for (long i0 = c0; i0 < c1; i0 += 8)
                    Transpose8x8(packed + i0 * rowBytes + k0 / 5 + 8 * g, rowBytes, (byte*)(stage + (i0 - c0) / 8), Tiles * 8);
                for (int col = 0; col < 8; col++)
                    for (int i = 0; i < 5; i++)
                    {
                        T* row = slab + (k0 + 40L * g + 5 * col + i) * inner;
                        int tiles = (int)(c1 - c0) / 8;
                        if (perChannel)
                        {
                            if (streaming) DecodeRowPerChannel<T, StreamingStores>(stage + col * Tiles, row + c0, tiles, mul[i], scales + c0, signMask);
                            else DecodeRowPerChannel<T, CachedStores>(stage + col * Tiles, row + c0, tiles, mul[i], scales + c0, signMask);
                        }
                        else if (streaming) DecodeRow<T, StreamingStores>(stage + col * Tiles, row + c0, tiles, mul[i], pat);
                        else DecodeRow<T, CachedStores>(stage + col * Tiles, row + c0, tiles, mul[i], pat);
                    }
            }
        }

        if (streaming) Sse.StoreFence();

        var lut = TernaryLut.Table;
        for (long i = 0; i < inner; i++)
        {
            T s = perChannel ? scales[i] : scales[0], n = s ^ signMask;
            byte* row = packed + i * rowBytes + k0 / 5;
            for (int k = i < inner8 ? 40 * groups : 0; k < len; k++)
            {
                int t = lut[row[k / 5] * 5 + k % 5];
                slab[(k0 + k) * inner + i] = t > 0 ? s : t < 0 ? n : T.Zero;
            }
        }
    }

    /// <summary>One row of the slab from one staged column: digit i (chosen by the multiplier) of each byte.</summary>
    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static void DecodeRow<T, TStore>(ulong* bytes, T* row, int tiles, Vector256<ushort> mul, Vector256<uint> pat)
        where T : unmanaged where TStore : struct, IStorePolicy
    {
        var three = Vector256.Create((ushort)3);
        for (int t = 0; t < tiles; t++, row += 8)
            Store8<T, TStore>(row, Avx2.PermuteVar8x32(pat, DigitsOf(bytes + t, mul, three)));
    }

    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static void DecodeRowPerChannel<T, TStore>(ulong* bytes, T* row, int tiles, Vector256<ushort> mul, T* scales, T signMask)
        where T : unmanaged where TStore : struct, IStorePolicy
    {
        var three = Vector256.Create((ushort)3);
        var two = Vector256.Create(2u);
        var sign = Vector256.Create(Widen(signMask));
        for (int t = 0; t < tiles; t++, row += 8, scales += 8)
        {
            var d = DigitsOf(bytes + t, mul, three);
            var s8 = Load8(scales);
            Store8<T, TStore>(row, Avx2.Or(Avx2.And(Avx2.CompareEqual(d, two), s8),
                                Avx2.And(Avx2.CompareEqual(d, Vector256<uint>.Zero), Avx2.Xor(s8, sign))));
        }
    }

    /// <summary>Digit i (selected by the multiplier) of 8 packed bytes, one per 32-bit lane.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<uint> DigitsOf(ulong* bytes, Vector256<ushort> mul, Vector256<ushort> three) =>
        Avx2.MultiplyHigh(Avx2.MultiplyLow(Avx2.ConvertToVector256Int32((byte*)bytes).AsUInt16(), mul), three).AsUInt32();

    /// <summary>Transposes 8 x 8 bytes: row r of the source (8 bytes at src + r * srcStride) becomes column r of the destination.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Transpose8x8(byte* src, long srcStride, byte* dst, long dstStride)
    {
        var r0 = Vector128.CreateScalar(*(ulong*)src).AsByte();
        var r1 = Vector128.CreateScalar(*(ulong*)(src + srcStride)).AsByte();
        var r2 = Vector128.CreateScalar(*(ulong*)(src + 2 * srcStride)).AsByte();
        var r3 = Vector128.CreateScalar(*(ulong*)(src + 3 * srcStride)).AsByte();
        var r4 = Vector128.CreateScalar(*(ulong*)(src + 4 * srcStride)).AsByte();
        var r5 = Vector128.CreateScalar(*(ulong*)(src + 5 * srcStride)).AsByte();
        var r6 = Vector128.CreateScalar(*(ulong*)(src + 6 * srcStride)).AsByte();
        var r7 = Vector128.CreateScalar(*(ulong*)(src + 7 * srcStride)).AsByte();
        var a0 = Sse2.UnpackLow(r0, r1).AsUInt16(); var a1 = Sse2.UnpackLow(r2, r3).AsUInt16();
        var a2 = Sse2.UnpackLow(r4, r5).AsUInt16(); var a3 = Sse2.UnpackLow(r6, r7).AsUInt16();
        var b0 = Sse2.UnpackLow(a0, a1).AsUInt32(); var b1 = Sse2.UnpackHigh(a0, a1).AsUInt32();
        var b2 = Sse2.UnpackLow(a2, a3).AsUInt32(); var b3 = Sse2.UnpackHigh(a2, a3).AsUInt32();
        var c01 = Sse2.UnpackLow(b0, b2).AsUInt64(); var c23 = Sse2.UnpackHigh(b0, b2).AsUInt64();
        var c45 = Sse2.UnpackLow(b1, b3).AsUInt64(); var c67 = Sse2.UnpackHigh(b1, b3).AsUInt64();
        *(ulong*)dst = c01.ToScalar();
        *(ulong*)(dst + dstStride) = c01.GetElement(1);
        *(ulong*)(dst + 2 * dstStride) = c23.ToScalar();
        *(ulong*)(dst + 3 * dstStride) = c23.GetElement(1);
        *(ulong*)(dst + 4 * dstStride) = c45.ToScalar();
        *(ulong*)(dst + 5 * dstStride) = c45.GetElement(1);
        *(ulong*)(dst + 6 * dstStride) = c67.ToScalar();
        *(ulong*)(dst + 7 * dstStride) = c67.GetElement(1);
    }

    // ------------------------------------------------------------------ element access

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static uint Widen<T>(T v) where T : unmanaged =>
        sizeof(T) == 4 ? Unsafe.BitCast<T, uint>(v) : sizeof(T) == 2 ? Unsafe.BitCast<T, ushort>(v) : Unsafe.BitCast<T, byte>(v);

    /// <summary>Eight elements zero-extended to 32-bit lanes.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<uint> Load8<T>(T* p) where T : unmanaged
    {
        if (sizeof(T) == 4) return Avx.LoadVector256((uint*)p);
        if (sizeof(T) == 2) return Avx2.ConvertToVector256Int32((ushort*)p).AsUInt32();
        return Avx2.ConvertToVector256Int32((byte*)p).AsUInt32();
    }

    /// <summary>The low 8, 16 or 32 bits of each lane, stored as eight elements.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Store8<T, TStore>(T* p, Vector256<uint> v) where T : unmanaged where TStore : struct, IStorePolicy
    {
        if (sizeof(T) == 4) { TStore.Store((byte*)p, v.AsByte()); return; }
        var w = Avx2.PackUnsignedSaturate(v.AsInt32(), v.AsInt32());              // words: 0-3 0-3 | 4-7 4-7
        if (sizeof(T) == 2)
        {
            TStore.Store((byte*)p, Avx2.Permute4x64(w.AsUInt64(), 0b10_00).GetLower().AsByte());
            return;
        }
        var b = Avx2.PackUnsignedSaturate(w.AsInt16(), w.AsInt16()).AsUInt32();     // bytes 0-3 (x4) | 4-7 (x4)
        *(ulong*)p = Avx2.PermuteVar8x32(b, Vector256.Create(0u, 4u, 0u, 0u, 0u, 0u, 0u, 0u)).AsUInt64().ToScalar();
    }
}
