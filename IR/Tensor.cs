using System.Runtime.InteropServices;
using Ternion.IR.Onnx;

namespace Ternion.IR;

/// <summary>
/// A constant tensor (initializer or attribute value). Type and dims are always known; the bytes
/// are behind <see cref="Data"/> and read only on request.
/// </summary>
public sealed class Tensor
{
    private long[] _dims;

    public Tensor(string? name, DataType dataType, long[] dims, TensorData data)
    {
        Name = name;
        RawDataType = (int)dataType;
        _dims = dims;
        Data = data;
    }

    /// <summary>A tensor whose values are given as an array of an unmanaged element type.</summary>
    public static Tensor FromArray<T>(string? name, DataType dataType, long[] dims, T[] values) where T : unmanaged =>
        new(name, dataType, dims, new MemoryTensorData(MemoryMarshal.AsBytes(values.AsSpan()).ToArray()));

    public string? Name { get; set; }
    /// <summary>data_type as stored (kept raw so an unknown type survives a round trip); null when absent.</summary>
    public int? RawDataType { get; set; }
    public DataType DataType => (DataType)(RawDataType ?? 0);
    public long[] Dims { get => _dims; set => _dims = value; }
    public string? DocString { get; set; }
    public List<MetadataEntry> Metadata { get; } = new();
    public TensorData Data { get; set; }

    /// <summary>String tensors keep their values here (they have no raw byte form).</summary>
    public IReadOnlyList<byte[]>? StringValues => Data is ProtoTensorData p && DataType == DataType.String
        ? p.Proto.StringData.Select(s => s.ToByteArray()).ToList() : null;

    /// <summary>Fields of the original proto the IR does not model (segment, an explicit data_location).</summary>
    internal TensorProto? Residue { get; set; }

    public long ElementCount => ElementCountOf(_dims);

    public static long ElementCountOf(long[] dims)
    {
        long n = 1;
        foreach (var d in dims)
        {
            if (d < 0) return -1;
            n = d == 0 ? 0 : (n > long.MaxValue / d ? -1 : n * d);
            if (n < 0) return -1;
        }
        return n;
    }

    public long ByteLength => Data.Length;

    public bool IsExternal => Data is ExternalTensorData;

    /// <summary>Copies the values out as an array of T (T must match the element size).</summary>
    public T[] ToArray<T>() where T : unmanaged
    {
        using var b = Data.Open();
        return MemoryMarshal.Cast<byte, T>(b.Span).ToArray();
    }

    public override string ToString() => $"{Name}: {DataTypes.ShortName(DataType)}[{string.Join(",", _dims)}]";
}
