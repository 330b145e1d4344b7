using System.Runtime.InteropServices;
using Ternion.IR;

namespace Ternion.Backends.Verification;

public enum RunValueKind { Tensor, Sequence, Map, Optional }

/// <summary>
/// A value fed to or read from a model run: a tensor (raw little-endian bytes, or strings), a
/// sequence of values, a map (keys tensor + values), or an optional (zero or one element).
/// </summary>
public sealed class RunValue
{
    public RunValueKind Kind { get; init; } = RunValueKind.Tensor;
    public DataType ElemType { get; init; }
    public long[] Dims { get; init; } = [];
    public byte[] Bytes { get; init; } = [];
    public string[]? Strings { get; init; }
    public List<RunValue> Elements { get; init; } = new();

    public long ElementCount => Tensor.ElementCountOf(Dims);

    public static RunValue FromArray<T>(DataType type, long[] dims, T[] values) where T : unmanaged =>
        new() { ElemType = type, Dims = dims, Bytes = MemoryMarshal.AsBytes(values.AsSpan()).ToArray() };

    public T[] ToArray<T>() where T : unmanaged => MemoryMarshal.Cast<byte, T>(Bytes).ToArray();

    /// <summary>Element i as a double (for comparisons), for every numeric element type.</summary>
    public double GetDouble(long i)
    {
        var b = Bytes.AsSpan();
        return ElemType switch
        {
            DataType.Float => BitConverter.ToSingle(b[(int)(i * 4)..]),
            DataType.Double => BitConverter.ToDouble(b[(int)(i * 8)..]),
            DataType.Float16 => (double)BitConverter.ToHalf(b[(int)(i * 2)..]),
            DataType.BFloat16 => BitConverter.Int32BitsToSingle(BitConverter.ToUInt16(b[(int)(i * 2)..]) << 16),
            DataType.Int8 => (sbyte)b[(int)i],
            DataType.UInt8 or DataType.Bool => b[(int)i],
            DataType.Int16 => BitConverter.ToInt16(b[(int)(i * 2)..]),
            DataType.UInt16 => BitConverter.ToUInt16(b[(int)(i * 2)..]),
            DataType.Int32 => BitConverter.ToInt32(b[(int)(i * 4)..]),
            DataType.UInt32 => BitConverter.ToUInt32(b[(int)(i * 4)..]),
            DataType.Int64 => BitConverter.ToInt64(b[(int)(i * 8)..]),
            DataType.UInt64 => BitConverter.ToUInt64(b[(int)(i * 8)..]),
            _ => double.NaN,
        };
    }

    public override string ToString() => Kind switch
    {
        RunValueKind.Tensor => $"{DataTypes.ShortName(ElemType)}[{string.Join(",", Dims)}]",
        RunValueKind.Sequence => $"seq({Elements.Count})",
        RunValueKind.Optional => Elements.Count == 0 ? "optional(none)" : $"optional({Elements[0]})",
        _ => "map",
    };
}
