using System.Runtime.InteropServices;

namespace Ternion.IR.Ternary;

/// <summary>
/// Encoder and decoders of the TTF1 ternary format (5 trits per byte; normative spec: ../shared/design/ternary-format.md).
/// Values are laid out in the logical shape of the <see cref="TernaryLayout"/>; packed bytes are
/// uint8 [M, RowBytes]. A scale span holds one value (per-tensor) or M values (per-channel, in
/// channel order). Inputs must have exactly the expected length; destinations at least.
/// </summary>
/// <remarks>
/// Decoding is exact: a trit becomes +scale, -scale (the scale with its sign bit flipped) or +0,
/// whatever the scale, so decode(encode(W)) == W bit for bit except that -0.0 comes back +0.0.
/// <c>maxThreads</c> caps the threads used (0: all processors); small tensors always
/// use one. The vector kernels need AVX2; other CPUs get the scalar ones, with the same results.
/// </remarks>
public static unsafe class TernaryCodec
{
    /// <summary>True when the vector (AVX2) kernels are in use on this CPU.</summary>
    public static bool IsAccelerated => TernaryKernels.Avx2Usable;

    // ------------------------------------------------------------------ encode

    /// <summary>
    /// Packs <paramref name="values"/> (each exactly +scale, -scale or ±0) into <paramref name="packed"/>.
    /// A non-ternary element or a non-finite scale gives a failed result naming the first such element;
    /// the packed bytes are then unspecified.
    /// </summary>
    public static TernaryEncodeResult Encode(ReadOnlySpan<float> values, TernaryLayout layout, float scale, Span<byte> packed, int maxThreads = 0) =>
        Encode(values, layout, new ReadOnlySpan<float>(in scale), packed, maxThreads);

    public static TernaryEncodeResult Encode(ReadOnlySpan<float> values, TernaryLayout layout, ReadOnlySpan<float> scales, Span<byte> packed, int maxThreads = 0) =>
        Encode<Float32Kind, uint>(MemoryMarshal.Cast<float, uint>(values), layout, MemoryMarshal.Cast<float, uint>(scales), packed, new CodecOptions(MaxThreads: maxThreads));

    public static TernaryEncodeResult Encode(ReadOnlySpan<Half> values, TernaryLayout layout, Half scale, Span<byte> packed, int maxThreads = 0) =>
        Encode(values, layout, new ReadOnlySpan<Half>(in scale), packed, maxThreads);

    public static TernaryEncodeResult Encode(ReadOnlySpan<Half> values, TernaryLayout layout, ReadOnlySpan<Half> scales, Span<byte> packed, int maxThreads = 0) =>
        Encode<Float16Kind, ushort>(MemoryMarshal.Cast<Half, ushort>(values), layout, MemoryMarshal.Cast<Half, ushort>(scales), packed, new CodecOptions(MaxThreads: maxThreads));

    public static TernaryEncodeResult Encode(ReadOnlySpan<double> values, TernaryLayout layout, double scale, Span<byte> packed, int maxThreads = 0) =>
        Encode(values, layout, new ReadOnlySpan<double>(in scale), packed, maxThreads);

    public static TernaryEncodeResult Encode(ReadOnlySpan<double> values, TernaryLayout layout, ReadOnlySpan<double> scales, Span<byte> packed, int maxThreads = 0) =>
        Encode<Float64Kind, ulong>(MemoryMarshal.Cast<double, ulong>(values), layout, MemoryMarshal.Cast<double, ulong>(scales), packed, new CodecOptions(MaxThreads: maxThreads));

    /// <summary>bfloat16 values and scale as raw bits (the upper half of a float32).</summary>
    public static TernaryEncodeResult EncodeBFloat16(ReadOnlySpan<ushort> values, TernaryLayout layout, ushort scale, Span<byte> packed, int maxThreads = 0) =>
        EncodeBFloat16(values, layout, new ReadOnlySpan<ushort>(in scale), packed, maxThreads);

    public static TernaryEncodeResult EncodeBFloat16(ReadOnlySpan<ushort> values, TernaryLayout layout, ReadOnlySpan<ushort> scales, Span<byte> packed, int maxThreads = 0) =>
        Encode<BFloat16Kind, ushort>(values, layout, scales, packed, new CodecOptions(MaxThreads: maxThreads));

    /// <summary>
    /// Packs trits (-1, 0, +1) given in the layout's logical shape; for trits already in packing
    /// order [M, K], pass <see cref="TernaryLayout.Matrix"/>(M, K). Any other value fails the result.
    /// </summary>
    public static TernaryEncodeResult Encode(ReadOnlySpan<sbyte> trits, TernaryLayout layout, Span<byte> packed, int maxThreads = 0)
    {
        byte one = 1;
        return Encode<TritKind, byte>(MemoryMarshal.AsBytes(trits), layout, new ReadOnlySpan<byte>(in one), packed, new CodecOptions(MaxThreads: maxThreads));
    }

    internal static TernaryEncodeResult Encode<TKind, T>(ReadOnlySpan<T> values, TernaryLayout layout, ReadOnlySpan<T> scales, Span<byte> packed, CodecOptions options)
        where TKind : ITernaryKind<T> where T : unmanaged, System.Numerics.IBinaryInteger<T>
    {
        CheckShapes(layout, values.Length, scales.Length, packed.Length, "values", "packed", packedIsInput: false);
        fixed (T* v = values)
        fixed (T* s = scales)
        fixed (byte* p = packed)
            return TernaryCore.Encode<TKind, T>(v, layout, s, scales.Length, p, options);
    }

    // ------------------------------------------------------------------ strict decode

    /// <summary>
    /// Unpacks to int8 trits in the layout's logical shape. Throws <see cref="TernionException"/>
    /// naming <paramref name="tensorName"/> and the byte offset if any byte is reserved (243..255).
    /// </summary>
    public static void Decode(ReadOnlySpan<byte> packed, TernaryLayout layout, Span<sbyte> trits, string? tensorName = null, int maxThreads = 0)
    {
        byte one = 1;
        Decode<TritKind, byte>(packed, layout, new ReadOnlySpan<byte>(in one), MemoryMarshal.AsBytes(trits), tensorName, new CodecOptions(MaxThreads: maxThreads));
    }

    public static void Decode(ReadOnlySpan<byte> packed, TernaryLayout layout, float scale, Span<float> values, string? tensorName = null, int maxThreads = 0) =>
        Decode(packed, layout, new ReadOnlySpan<float>(in scale), values, tensorName, maxThreads);

    public static void Decode(ReadOnlySpan<byte> packed, TernaryLayout layout, ReadOnlySpan<float> scales, Span<float> values, string? tensorName = null, int maxThreads = 0) =>
        Decode<Float32Kind, uint>(packed, layout, MemoryMarshal.Cast<float, uint>(scales), MemoryMarshal.Cast<float, uint>(values), tensorName, new CodecOptions(MaxThreads: maxThreads));

    public static void Decode(ReadOnlySpan<byte> packed, TernaryLayout layout, Half scale, Span<Half> values, string? tensorName = null, int maxThreads = 0) =>
        Decode(packed, layout, new ReadOnlySpan<Half>(in scale), values, tensorName, maxThreads);

    public static void Decode(ReadOnlySpan<byte> packed, TernaryLayout layout, ReadOnlySpan<Half> scales, Span<Half> values, string? tensorName = null, int maxThreads = 0) =>
        Decode<Float16Kind, ushort>(packed, layout, MemoryMarshal.Cast<Half, ushort>(scales), MemoryMarshal.Cast<Half, ushort>(values), tensorName, new CodecOptions(MaxThreads: maxThreads));

    public static void Decode(ReadOnlySpan<byte> packed, TernaryLayout layout, double scale, Span<double> values, string? tensorName = null, int maxThreads = 0) =>
        Decode(packed, layout, new ReadOnlySpan<double>(in scale), values, tensorName, maxThreads);

    public static void Decode(ReadOnlySpan<byte> packed, TernaryLayout layout, ReadOnlySpan<double> scales, Span<double> values, string? tensorName = null, int maxThreads = 0) =>
        Decode<Float64Kind, ulong>(packed, layout, MemoryMarshal.Cast<double, ulong>(scales), MemoryMarshal.Cast<double, ulong>(values), tensorName, new CodecOptions(MaxThreads: maxThreads));

    /// <summary>bfloat16 scale and output as raw bits.</summary>
    public static void DecodeBFloat16(ReadOnlySpan<byte> packed, TernaryLayout layout, ushort scale, Span<ushort> values, string? tensorName = null, int maxThreads = 0) =>
        DecodeBFloat16(packed, layout, new ReadOnlySpan<ushort>(in scale), values, tensorName, maxThreads);

    public static void DecodeBFloat16(ReadOnlySpan<byte> packed, TernaryLayout layout, ReadOnlySpan<ushort> scales, Span<ushort> values, string? tensorName = null, int maxThreads = 0) =>
        Decode<BFloat16Kind, ushort>(packed, layout, scales, values, tensorName, new CodecOptions(MaxThreads: maxThreads));

    internal static void Decode<TKind, T>(ReadOnlySpan<byte> packed, TernaryLayout layout, ReadOnlySpan<T> scales, Span<T> values, string? tensorName, CodecOptions options)
        where TKind : ITernaryKind<T> where T : unmanaged, System.Numerics.IBinaryInteger<T>
    {
        CheckShapes(layout, values.Length, scales.Length, packed.Length, "values", "packed", packedIsInput: true);
        fixed (byte* p = packed)
        fixed (T* s = scales)
        fixed (T* v = values)
            TernaryCore.Decode<TKind, T>(p, layout, s, scales.Length, v, tensorName, options);
    }

    // ------------------------------------------------------------------ table-driven decode

    /// <summary>
    /// Decodes through <see cref="TernaryLut.Table"/> exactly as the spec's fallback function does
    /// (Gather from the LUT, Cast, Mul by the scale): total, so reserved bytes become zero trits, and
    /// a zero trit becomes 0 * scale (-0 for a negative scale, NaN for an infinite one). Scalar and
    /// single-threaded: it is the reference the fast decoders are checked against.
    /// </summary>
    public static void DecodeWithLut(ReadOnlySpan<byte> packed, TernaryLayout layout, Span<sbyte> trits)
    {
        sbyte one = 1;
        DecodeWithLut<TritProduct, sbyte>(packed, layout, new ReadOnlySpan<sbyte>(in one), trits);
    }

    public static void DecodeWithLut(ReadOnlySpan<byte> packed, TernaryLayout layout, ReadOnlySpan<float> scales, Span<float> values) =>
        DecodeWithLut<Float32Product, float>(packed, layout, scales, values);

    public static void DecodeWithLut(ReadOnlySpan<byte> packed, TernaryLayout layout, ReadOnlySpan<Half> scales, Span<Half> values) =>
        DecodeWithLut<Float16Product, Half>(packed, layout, scales, values);

    public static void DecodeBFloat16WithLut(ReadOnlySpan<byte> packed, TernaryLayout layout, ReadOnlySpan<ushort> scales, Span<ushort> values) =>
        DecodeWithLut<BFloat16Product, ushort>(packed, layout, scales, values);

    /// <summary>Cast(trit -> T) then Mul by the scale, in T's arithmetic.</summary>
    private interface ILutProduct<T> { static abstract T Times(sbyte trit, T scale); }
    private struct TritProduct : ILutProduct<sbyte> { public static sbyte Times(sbyte t, sbyte s) => t; }
    private struct Float32Product : ILutProduct<float> { public static float Times(sbyte t, float s) => t * s; }
    // The product of ±1 or 0 and a float16 or bfloat16 is exact in float32, so rounding back is exact too.
    private struct Float16Product : ILutProduct<Half> { public static Half Times(sbyte t, Half s) => (Half)(t * (float)s); }
    private struct BFloat16Product : ILutProduct<ushort>
    {
        public static ushort Times(sbyte t, ushort s) => BFloat16Bits(t * BitConverter.UInt32BitsToSingle((uint)s << 16));
    }

    /// <summary>float32 to bfloat16 with round-to-nearest-even, NaN kept quiet.</summary>
    internal static ushort BFloat16Bits(float f)
    {
        uint b = BitConverter.SingleToUInt32Bits(f);
        if (float.IsNaN(f)) return (ushort)((b >> 16) | 0x0040);
        return (ushort)((b + 0x7FFF + ((b >> 16) & 1)) >> 16);
    }

    private static void DecodeWithLut<TP, T>(ReadOnlySpan<byte> packed, TernaryLayout L, ReadOnlySpan<T> scales, Span<T> values)
        where TP : ILutProduct<T>
    {
        CheckShapes(L, values.Length, scales.Length, packed.Length, "values", "packed", packedIsInput: true);
        bool perChannel = scales.Length != 1;
        var lut = TernaryLut.Table;
        long K = L.K, inner = L.Inner, outer = L.Outer, rowBytes = L.RowBytes, e = 0;
        for (long o = 0; o < outer; o++)
            for (long k = 0; k < K; k++)
                for (long i = 0; i < inner; i++, e++)
                {
                    long m = o * inner + i;
                    byte b = packed[(int)(m * rowBytes + k / 5)];
                    values[(int)e] = TP.Times(lut[b * 5 + (int)(k % 5)], scales[perChannel ? (int)m : 0]);
                }
    }

    // ------------------------------------------------------------------ validation

    /// <summary>
    /// Checks a packed tensor without decoding it: the length, no reserved byte, and padding trits
    /// that are all zero. Throws <see cref="TernionException"/> naming the tensor and the byte offset.
    /// </summary>
    public static void Validate(ReadOnlySpan<byte> packed, TernaryLayout layout, string? tensorName = null)
    {
        layout.Validate();
        if (packed.Length != layout.PackedBytes)
            throw new TernionException($"{TernaryCore.Who(tensorName)}: {packed.Length} packed bytes, layout {layout} needs {layout.PackedBytes}");
        fixed (byte* p = packed)
        {
            long at = TernaryKernels.FirstReserved(TernaryKernels.Resolve(TernaryKernel.Auto), p, packed.Length);
            if (at >= 0) throw new TernionException(TernaryCore.ReservedMessage(tensorName, at, p[at], layout));
        }
        long K = layout.K, rowBytes = layout.RowBytes, data = layout.DataBytesPerRow;
        int partial = (int)(K % 5);
        for (long m = 0; m < layout.M; m++)
        {
            var row = packed.Slice((int)(m * rowBytes), (int)rowBytes);
            if (partial != 0)
            {
                var trits = TernaryLut.Row(row[(int)data - 1]);
                for (int i = partial; i < 5; i++)
                    if (trits[i] != 0)
                        throw new TernionException($"{TernaryCore.Who(tensorName)}: padding trit {i} of the byte at offset {m * rowBytes + data - 1} is {trits[i]}, not 0");
            }
            int bad = row[(int)data..].IndexOfAnyExcept(TernaryLut.ZeroByte);
            if (bad >= 0)
                throw new TernionException($"{TernaryCore.Who(tensorName)}: padding byte at offset {m * rowBytes + data + bad} is 0x{row[(int)data + bad]:X2}, not 0x79");
        }
    }

    // ------------------------------------------------------------------ argument checks

    private static void CheckShapes(TernaryLayout layout, int valueCount, int scaleCount, int packedCount, string valuesName, string packedName, bool packedIsInput)
    {
        layout.Validate();
        long elements = layout.ElementCount;
        if (packedIsInput ? valueCount < elements : valueCount != elements)
            throw new ArgumentException($"{valuesName}: {valueCount} elements, layout {layout} has {elements}", valuesName);
        if (scaleCount != 1 && scaleCount != layout.M)
            throw new ArgumentException($"scales: {scaleCount} values, need 1 (per tensor) or M = {layout.M} (per channel)", "scales");
        long need = layout.PackedBytes;
        if (packedIsInput ? packedCount != need : packedCount < need)
            throw new ArgumentException($"{packedName}: {packedCount} bytes, layout {layout} packs into {need}", packedName);
    }
}
