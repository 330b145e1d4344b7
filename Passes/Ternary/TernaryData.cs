using System.Runtime.InteropServices;
using Ternion.IR;
using Ternion.IR.Ternary;

namespace Ternion.Passes.Ternary;

/// <summary>Moves weights between their dense element types and TTF1 bytes with the codec.</summary>
public static class TernaryData
{
    /// <summary>Packs a float weight with the scales the detector found (raw bits of the element type).</summary>
    public static void Pack(ReadOnlySpan<byte> dense, DataType type, TernaryLayout layout, ulong[] scaleBits, string name, int threads, Span<byte> packed)
    {
        bool one = scaleBits.Length == 1;
        TernaryEncodeResult r = type switch
        {
            DataType.Float => one
                ? TernaryCodec.Encode(MemoryMarshal.Cast<byte, float>(dense), layout, BitConverter.UInt32BitsToSingle((uint)scaleBits[0]), packed, threads)
                : TernaryCodec.Encode(MemoryMarshal.Cast<byte, float>(dense), layout, scaleBits.Select(b => BitConverter.UInt32BitsToSingle((uint)b)).ToArray(), packed, threads),
            DataType.Float16 => one
                ? TernaryCodec.Encode(MemoryMarshal.Cast<byte, Half>(dense), layout, BitConverter.UInt16BitsToHalf((ushort)scaleBits[0]), packed, threads)
                : TernaryCodec.Encode(MemoryMarshal.Cast<byte, Half>(dense), layout, scaleBits.Select(b => BitConverter.UInt16BitsToHalf((ushort)b)).ToArray(), packed, threads),
            DataType.BFloat16 => one
                ? TernaryCodec.EncodeBFloat16(MemoryMarshal.Cast<byte, ushort>(dense), layout, (ushort)scaleBits[0], packed, threads)
                : TernaryCodec.EncodeBFloat16(MemoryMarshal.Cast<byte, ushort>(dense), layout, scaleBits.Select(b => (ushort)b).ToArray(), packed, threads),
            DataType.Double => one
                ? TernaryCodec.Encode(MemoryMarshal.Cast<byte, double>(dense), layout, BitConverter.UInt64BitsToDouble(scaleBits[0]), packed, threads)
                : TernaryCodec.Encode(MemoryMarshal.Cast<byte, double>(dense), layout, scaleBits.Select(BitConverter.UInt64BitsToDouble).ToArray(), packed, threads),
            _ => throw new TernionException($"tensor '{name}': cannot pack element type {DataTypes.ShortName(type)}"),
        };
        r.ThrowIfFailed(name, layout);
    }

    /// <summary>Packs int8 trits laid out in the weight's logical shape.</summary>
    public static void PackInt8(ReadOnlySpan<byte> int8, TernaryLayout layout, string name, int threads, Span<byte> packed)
    {
        var asFloat = new float[int8.Length];
        for (int i = 0; i < int8.Length; i++) asFloat[i] = (sbyte)int8[i];
        TernaryCodec.Encode(asFloat, layout, 1f, packed, threads).ThrowIfFailed(name, layout);
    }

    /// <summary>Decodes to the dense weight bytes (strict: reserved bytes are an error naming the tensor and offset).</summary>
    public static void Decode(ReadOnlySpan<byte> packed, TernaryLayout layout, DataType type, ReadOnlySpan<byte> scale, string name, int threads, Span<byte> destination)
    {
        bool one = DataTypes.ByteCount(type, 1) == scale.Length;
        switch (type)
        {
            case DataType.Float:
            {
                var dst = MemoryMarshal.Cast<byte, float>(destination);
                var s = MemoryMarshal.Cast<byte, float>(scale);
                if (one) TernaryCodec.Decode(packed, layout, s[0], dst, name, threads); else TernaryCodec.Decode(packed, layout, s, dst, name, threads);
                return;
            }
            case DataType.Float16:
            {
                var dst = MemoryMarshal.Cast<byte, Half>(destination);
                var s = MemoryMarshal.Cast<byte, Half>(scale);
                if (one) TernaryCodec.Decode(packed, layout, s[0], dst, name, threads); else TernaryCodec.Decode(packed, layout, s, dst, name, threads);
                return;
            }
            case DataType.BFloat16:
            {
                var dst = MemoryMarshal.Cast<byte, ushort>(destination);
                var s = MemoryMarshal.Cast<byte, ushort>(scale);
                if (one) TernaryCodec.DecodeBFloat16(packed, layout, s[0], dst, name, threads); else TernaryCodec.DecodeBFloat16(packed, layout, s, dst, name, threads);
                return;
            }
            case DataType.Double:
            {
                var dst = MemoryMarshal.Cast<byte, double>(destination);
                var s = MemoryMarshal.Cast<byte, double>(scale);
                if (one) TernaryCodec.Decode(packed, layout, s[0], dst, name, threads); else TernaryCodec.Decode(packed, layout, s, dst, name, threads);
                return;
            }
            default:
                throw new TernionException($"TernaryDecode '{name}': scale type {DataTypes.ShortName(type)} is not float, float16 or bfloat16");
        }
    }

    /// <summary>Decodes to trits (-1/0/+1) in [M, K] order, i.e. channel by channel.</summary>
    public static sbyte[] DecodeTrits(ReadOnlySpan<byte> packed, TernaryLayout layout, string name, int threads)
    {
        var matrix = layout.AsMatrix();
        var trits = new sbyte[matrix.ElementCount];
        TernaryCodec.Decode(packed, matrix, trits, name, threads);
        return trits;
    }

    /// <summary>Bytes of a scale from raw bits (one per tensor or one per channel).</summary>
    public static byte[] ScaleBytes(DataType type, ulong[] bits)
    {
        int size = (int)DataTypes.ByteCount(type, 1);
        var b = new byte[bits.Length * size];
        for (int i = 0; i < bits.Length; i++)
        {
            switch (size)
            {
                case 2: BitConverter.TryWriteBytes(b.AsSpan(i * 2), (ushort)bits[i]); break;
                case 4: BitConverter.TryWriteBytes(b.AsSpan(i * 4), (uint)bits[i]); break;
                default: BitConverter.TryWriteBytes(b.AsSpan(i * 8), bits[i]); break;
            }
        }
        return b;
    }
}
