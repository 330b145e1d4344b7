using System.Buffers;
using System.Numerics;

namespace Ternion.IR.Ternary;

/// <summary>How an element type maps onto the bit-pattern kernels.</summary>
internal interface ITernaryKind<T> where T : unmanaged, IBinaryInteger<T>
{
    /// <summary>XOR with this turns +scale into -scale (for int8 trits: 1 into -1).</summary>
    static abstract T SignMask { get; }
    /// <summary>An element is a zero trit when (bits &amp; ZeroMask) == 0: ±0 for floats, exactly 0 for trits.</summary>
    static abstract T ZeroMask { get; }
    static abstract bool IsFinite(T bits);
    static abstract double ToDouble(T bits);
}

internal struct Float32Kind : ITernaryKind<uint>
{
    public static uint SignMask => 0x8000_0000u;
    public static uint ZeroMask => 0x7FFF_FFFFu;
    public static bool IsFinite(uint b) => (b & 0x7F80_0000u) != 0x7F80_0000u;
    public static double ToDouble(uint b) => BitConverter.UInt32BitsToSingle(b);
}

internal struct Float16Kind : ITernaryKind<ushort>
{
    public static ushort SignMask => 0x8000;
    public static ushort ZeroMask => 0x7FFF;
    public static bool IsFinite(ushort b) => (b & 0x7C00) != 0x7C00;
    public static double ToDouble(ushort b) => (double)BitConverter.UInt16BitsToHalf(b);
}

internal struct BFloat16Kind : ITernaryKind<ushort>
{
    public static ushort SignMask => 0x8000;
    public static ushort ZeroMask => 0x7FFF;
    public static bool IsFinite(ushort b) => (b & 0x7F80) != 0x7F80;
    public static double ToDouble(ushort b) => BitConverter.UInt32BitsToSingle((uint)b << 16);
}

internal struct Float64Kind : ITernaryKind<ulong>
{
    public static ulong SignMask => 0x8000_0000_0000_0000UL;
    public static ulong ZeroMask => 0x7FFF_FFFF_FFFF_FFFFUL;
    public static bool IsFinite(ulong b) => (b & 0x7FF0_0000_0000_0000UL) != 0x7FF0_0000_0000_0000UL;
    public static double ToDouble(ulong b) => BitConverter.UInt64BitsToDouble(b);
}

/// <summary>int8 trits: the "scale" is 1, and 1 ^ 0xFE = 0xFF = -1.</summary>
internal struct TritKind : ITernaryKind<byte>
{
    public static byte SignMask => 0xFE;
    public static byte ZeroMask => 0xFF;
    public static bool IsFinite(byte b) => true;
    public static double ToDouble(byte b) => (sbyte)b;
}

/// <summary>Knobs the public API leaves at their defaults; tests and benchmarks set them.</summary>
internal readonly record struct CodecOptions(
    TernaryKernel Kernel = TernaryKernel.Auto,
    int MaxThreads = 0,
    long MinParallelElements = CodecOptions.DefaultMinParallelElements,
    long ChunkUnits = 0,
    long StreamingMinBytes = CodecOptions.DefaultStreamingMinBytes)
{
    /// <summary>
    /// Decoded outputs from this size up are written with streaming stores: half the 32 MiB L3, so
    /// what could stay cached does, and what cannot does not cost a read per written line.
    /// </summary>
    public const long DefaultStreamingMinBytes = 16L << 20;
    /// <summary>Below this many elements one thread is faster than waking another (about 1 MiB of float32).</summary>
    public const long DefaultMinParallelElements = 1 << 18;
    /// <summary>Smallest chunk handed to a worker when chunks are sized automatically.</summary>
    public const long MinChunkElements = 1 << 15;
}

/// <summary>
/// The layout-aware, multi-threaded part of the codec. Work is cut into units: for rows that are
/// contiguous (axis is the last dim) a unit is one block of one row; otherwise a unit is one block
/// of k across all channels of one outer index, done by the vertical AVX2 kernels
/// (<see cref="TernaryStridedKernels"/>) or, for 8-byte elements and without AVX2, in channel tiles
/// through a small scratch buffer transposed to or from the strided tensor. Units never share
/// output bytes, so chunks of units run in parallel without locks.
/// </summary>
internal static unsafe class TernaryCore
{
    /// <summary>Channels per tile in the strided path: 16 rows of a block stay in L1 while transposed.</summary>
    private const int Tile = 16;

    private static (T s, T n) EncodePair<TKind, T>(T s) where TKind : ITernaryKind<T> where T : unmanaged, IBinaryInteger<T> =>
        (s & TKind.ZeroMask) == T.Zero ? (T.Zero, T.Zero) : (s, s ^ TKind.SignMask);

    // ------------------------------------------------------------------ encode

    public static TernaryEncodeResult Encode<TKind, T>(T* src, TernaryLayout L, T* scales, long scaleCount, byte* dst, CodecOptions o)
        where TKind : ITernaryKind<T> where T : unmanaged, IBinaryInteger<T>
    {
        bool perChannel = scaleCount != 1;
        for (long c = 0; c < scaleCount; c++)
            if (!TKind.IsFinite(scales[c]))
                return new TernaryEncodeResult
                {
                    Failure = TernaryEncodeFailure.ScaleNotFinite, ElementIndex = -1, Channel = perChannel ? c : -1,
                    Value = double.NaN, Scale = TKind.ToDouble(scales[c]),
                };
        if (L.PackedBytes == 0) return TernaryEncodeResult.Success;

        var kernel = TernaryKernels.Resolve(o.Kernel);
        long K = L.K, inner = L.Inner, nb = L.BlocksPerRow, rowBytes = L.RowBytes;
        int bs = L.BlockSize;
        int failed = 0;
        nint srcP = (nint)src, dstP = (nint)dst, scP = (nint)scales;

        if (inner == 1)
        {
            Parallel(L.M * nb, bs, o, (q0, q1) =>
            {
                T* s0 = (T*)srcP; T* sc = (T*)scP; byte* d0 = (byte*)dstP;
                for (long q = q0; q < q1;)
                {
                    if (Volatile.Read(ref failed) != 0) return;
                    long m = q / nb, b0 = q % nb, b1 = Math.Min(nb, b0 + (q1 - q));
                    long k0 = b0 * bs, k1 = Math.Min(b1 * bs, K);
                    var (s, n) = EncodePair<TKind, T>(sc[perChannel ? m : 0]);
                    byte* row = d0 + m * rowBytes;
                    if (k0 < K && !TernaryKernels.EncodeSegment(kernel, s0 + m * K + k0, (int)(k1 - k0), row + k0 / 5, s, n, TKind.ZeroMask))
                    {
                        Volatile.Write(ref failed, 1);
                        return;
                    }
                    FillPadding(row, L, b0, b1);
                    q += b1 - b0;
                }
            });
        }
        else if (kernel == TernaryKernel.Avx2 && TernaryStridedKernels.Supports<T>())
        {
            Parallel(L.Outer * nb, bs * inner, o, (q0, q1) =>
            {
                T* s0 = (T*)srcP; T* sc = (T*)scP; byte* d0 = (byte*)dstP;
                for (long q = q0; q < q1; q++)
                {
                    if (Volatile.Read(ref failed) != 0) return;
                    long outer = q / nb, kb = q % nb, k0 = kb * bs;
                    byte* rows = d0 + outer * inner * rowBytes;
                    if (!TernaryStridedKernels.EncodeBlock(s0 + outer * K * inner, inner, k0, (int)Math.Min(bs, K - k0), rows, rowBytes,
                            perChannel ? sc + outer * inner : sc, perChannel, TKind.SignMask, TKind.ZeroMask))
                    {
                        Volatile.Write(ref failed, 1);
                        return;
                    }
                    if (kb == nb - 1)
                        for (long i = 0; i < inner; i++) FillPadding(rows + i * rowBytes, L, kb, kb + 1);
                }
            });
        }
        else
        {
            Parallel(L.Outer * nb, bs * inner, o, (q0, q1) =>
            {
                byte[] rented = ArrayPool<byte>.Shared.Rent(Tile * bs * sizeof(T));
                try
                {
                    fixed (byte* scratchBytes = rented)
                    {
                        T* scratch = (T*)scratchBytes; T* s0 = (T*)srcP; T* sc = (T*)scP; byte* d0 = (byte*)dstP;
                        for (long q = q0; q < q1; q++)
                        {
                            long outer = q / nb, kb = q % nb, k0 = kb * bs;
                            int len = (int)Math.Min(bs, K - k0);
                            for (long i0 = 0; i0 < inner; i0 += Tile)
                            {
                                if (Volatile.Read(ref failed) != 0) return;
                                int ti = (int)Math.Min(Tile, inner - i0);
                                T* from = s0 + (outer * K + k0) * inner + i0;
                                for (int kk = 0; kk < len; kk++, from += inner)
                                    for (int t = 0; t < ti; t++) scratch[t * bs + kk] = from[t];
                                for (int t = 0; t < ti; t++)
                                {
                                    long m = outer * inner + i0 + t;
                                    var (s, n) = EncodePair<TKind, T>(sc[perChannel ? m : 0]);
                                    byte* row = d0 + m * rowBytes;
                                    if (!TernaryKernels.EncodeSegment(kernel, scratch + t * bs, len, row + k0 / 5, s, n, TKind.ZeroMask))
                                    {
                                        Volatile.Write(ref failed, 1);
                                        return;
                                    }
                                    FillPadding(row, L, kb, kb + 1);
                                }
                            }
                        }
                    }
                }
                finally { ArrayPool<byte>.Shared.Return(rented); }
            });
        }

        return failed == 0 ? TernaryEncodeResult.Success : FirstOffender<TKind, T>(src, L, scales, perChannel);
    }

    /// <summary>Whole padding bytes of blocks [b0, b1) of a row: those past ceil(K / 5).</summary>
    private static void FillPadding(byte* row, TernaryLayout L, long b0, long b1)
    {
        long from = Math.Max(b0 * L.BlockSize / 5, L.DataBytesPerRow), to = b1 * L.BlockSize / 5;
        if (to > from) new Span<byte>(row + from, (int)(to - from)).Fill(TernaryLut.ZeroByte);
    }

    /// <summary>
    /// The first element in logical order that is not ternary. Runs only after a kernel reported a
    /// failure, so the answer does not depend on which thread or tile noticed first.
    /// </summary>
    private static TernaryEncodeResult FirstOffender<TKind, T>(T* src, TernaryLayout L, T* scales, bool perChannel)
        where TKind : ITernaryKind<T> where T : unmanaged, IBinaryInteger<T>
    {
        long K = L.K, inner = L.Inner, outer = L.Outer, e = 0;
        for (long o = 0; o < outer; o++)
            for (long k = 0; k < K; k++)
                for (long i = 0; i < inner; i++, e++)
                {
                    long m = o * inner + i;
                    T sc = scales[perChannel ? m : 0];
                    var (s, n) = EncodePair<TKind, T>(sc);
                    if (TernaryKernels.Digit(src[e], s, n, TKind.ZeroMask) < 0)
                        return new TernaryEncodeResult
                        {
                            Failure = TernaryEncodeFailure.NotTernary, ElementIndex = e, Channel = m,
                            Value = TKind.ToDouble(src[e]), Scale = TKind.ToDouble(sc),
                        };
                }
        throw new InvalidOperationException("ternary encode: a kernel reported a non-ternary element that the scalar check cannot find");
    }

    // ------------------------------------------------------------------ decode

    public static void Decode<TKind, T>(byte* src, TernaryLayout L, T* scales, long scaleCount, T* dst, string? tensorName, CodecOptions o)
        where TKind : ITernaryKind<T> where T : unmanaged, IBinaryInteger<T>
    {
        if (L.PackedBytes == 0) return;
        var kernel = TernaryKernels.Resolve(o.Kernel);
        bool perChannel = scaleCount != 1;
        long K = L.K, inner = L.Inner, nb = L.BlocksPerRow, rowBytes = L.RowBytes;
        int bs = L.BlockSize, blockBytes = bs / 5;
        int bad = 0;
        nint srcP = (nint)src, dstP = (nint)dst, scP = (nint)scales;
        bool streaming = L.ElementCount * sizeof(T) >= o.StreamingMinBytes;

        if (inner == 1)
        {
            Parallel(L.M * nb, bs, o, (q0, q1) =>
            {
                byte* s0 = (byte*)srcP; T* d0 = (T*)dstP; T* sc = (T*)scP;
                for (long q = q0; q < q1;)
                {
                    if (Volatile.Read(ref bad) != 0) return;
                    long m = q / nb, b0 = q % nb, b1 = Math.Min(nb, b0 + (q1 - q));
                    long k0 = b0 * bs, k1 = Math.Min(b1 * bs, K);
                    byte* row = s0 + m * rowBytes;
                    if (TernaryKernels.FirstReserved(kernel, row + b0 * blockBytes, (b1 - b0) * blockBytes) >= 0)
                    {
                        Volatile.Write(ref bad, 1);
                        return;
                    }
                    T s = sc[perChannel ? m : 0];
                    if (k0 < K) TernaryKernels.DecodeSegment(kernel, row + k0 / 5, d0 + m * K + k0, (int)(k1 - k0), s ^ TKind.SignMask, s, streaming);
                    q += b1 - b0;
                }
            });
        }
        else if (kernel == TernaryKernel.Avx2 && TernaryStridedKernels.Supports<T>())
        {
            Parallel(L.Outer * nb, bs * inner, o, (q0, q1) =>
            {
                byte* s0 = (byte*)srcP; T* d0 = (T*)dstP; T* sc = (T*)scP;
                for (long q = q0; q < q1; q++)
                {
                    if (Volatile.Read(ref bad) != 0) return;
                    long outer = q / nb, kb = q % nb, k0 = kb * bs;
                    byte* rows = s0 + outer * inner * rowBytes;
                    for (long i = 0; i < inner; i++)
                        if (TernaryKernels.FirstReserved(kernel, rows + i * rowBytes + kb * blockBytes, blockBytes) >= 0)
                        {
                            Volatile.Write(ref bad, 1);
                            return;
                        }
                    TernaryStridedKernels.DecodeBlock(rows, rowBytes, k0, (int)Math.Min(bs, K - k0), d0 + outer * K * inner, inner,
                        perChannel ? sc + outer * inner : sc, perChannel, TKind.SignMask, streaming);
                }
            });
        }
        else
        {
            Parallel(L.Outer * nb, bs * inner, o, (q0, q1) =>
            {
                byte[] rented = ArrayPool<byte>.Shared.Rent(Tile * bs * sizeof(T));
                try
                {
                    fixed (byte* scratchBytes = rented)
                    {
                        T* scratch = (T*)scratchBytes; byte* s0 = (byte*)srcP; T* d0 = (T*)dstP; T* sc = (T*)scP;
                        for (long q = q0; q < q1; q++)
                        {
                            long outer = q / nb, kb = q % nb, k0 = kb * bs;
                            int len = (int)Math.Min(bs, K - k0);
                            for (long i0 = 0; i0 < inner; i0 += Tile)
                            {
                                if (Volatile.Read(ref bad) != 0) return;
                                int ti = (int)Math.Min(Tile, inner - i0);
                                for (int t = 0; t < ti; t++)
                                {
                                    long m = outer * inner + i0 + t;
                                    byte* row = s0 + m * rowBytes;
                                    if (TernaryKernels.FirstReserved(kernel, row + kb * blockBytes, blockBytes) >= 0)
                                    {
                                        Volatile.Write(ref bad, 1);
                                        return;
                                    }
                                    T s = sc[perChannel ? m : 0];
                                    TernaryKernels.DecodeSegment(kernel, row + k0 / 5, scratch + t * bs, len, s ^ TKind.SignMask, s);
                                }
                                T* to = d0 + (outer * K + k0) * inner + i0;
                                for (int kk = 0; kk < len; kk++, to += inner)
                                    for (int t = 0; t < ti; t++) to[t] = scratch[t * bs + kk];
                            }
                        }
                    }
                }
                finally { ArrayPool<byte>.Shared.Return(rented); }
            });
        }

        if (bad != 0) ThrowReserved(src, L, tensorName);
    }

    /// <summary>Names the first reserved byte of the whole tensor, whichever chunk stumbled on one.</summary>
    internal static void ThrowReserved(byte* src, TernaryLayout L, string? tensorName)
    {
        long at = TernaryKernels.FirstReserved(TernaryKernel.Scalar, src, L.PackedBytes);
        if (at < 0) throw new InvalidOperationException("ternary decode: a kernel reported a reserved byte that the scalar check cannot find");
        throw new TernionException(ReservedMessage(tensorName, at, src[at], L));
    }

    internal static string ReservedMessage(string? tensorName, long offset, byte value, TernaryLayout L) =>
        $"{Who(tensorName)}: packed byte at offset {offset} (row {offset / L.RowBytes}, byte {offset % L.RowBytes} of the row) is {value}; bytes 243..255 are reserved in TTF1";

    internal static string Who(string? tensorName) => string.IsNullOrEmpty(tensorName) ? "ternary tensor" : $"ternary tensor '{tensorName}'";

    // ------------------------------------------------------------------ threads

    /// <summary>Runs body over [0, units) in chunks, on up to MaxThreads threads when the work is large enough.</summary>
    internal static void Parallel(long units, long elementsPerUnit, CodecOptions o, Action<long, long> body)
    {
        int threads = o.MaxThreads > 0 ? o.MaxThreads : Environment.ProcessorCount;
        if (units <= 0) return;
        if (threads <= 1 || units == 1 || units * elementsPerUnit < o.MinParallelElements)
        {
            body(0, units);
            return;
        }
        // A few chunks per thread so a thread slowed by a noisy neighbour does not hold up the rest.
        long chunk = o.ChunkUnits > 0
            ? o.ChunkUnits
            : Math.Max((units + threads * 4 - 1) / (threads * 4), (CodecOptions.MinChunkElements + elementsPerUnit - 1) / elementsPerUnit);
        long chunks = (units + chunk - 1) / chunk;
        if (chunks <= 1)
        {
            body(0, units);
            return;
        }
        System.Threading.Tasks.Parallel.For(0L, chunks, new ParallelOptions { MaxDegreeOfParallelism = threads },
            c => body(c * chunk, Math.Min(units, (c + 1) * chunk)));
    }
}
