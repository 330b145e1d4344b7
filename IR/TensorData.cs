using System.Buffers;
using System.IO.MemoryMappedFiles;
using System.Runtime.InteropServices;
using Google.Protobuf;
using Ternion.IR.Onnx;

namespace Ternion.IR;

/// <summary>
/// The bytes of a tensor (little-endian, sub-byte types packed), wherever they live: inside the
/// parsed protobuf, in an external file (memory-mapped only when asked), in memory, or computed
/// on demand when the model is saved. Reading is always explicit, so dims and type are known
/// without touching the data.
/// </summary>
public abstract class TensorData
{
    /// <summary>Length in bytes.</summary>
    public abstract long Length { get; }

    /// <summary>Opens the bytes for reading. Dispose the result to release a mapping.</summary>
    public abstract TensorBytes Open();

    /// <summary>Whether opening computes the bytes (CPU work worth overlapping with writing), rather than reading them.</summary>
    public virtual bool IsComputed => false;

    /// <summary>Writes the bytes to a stream without holding more than a buffer in memory where possible.</summary>
    public virtual void CopyTo(Stream destination)
    {
        using var b = Open();
        destination.Write(b.Span);
    }
}

/// <summary>Readable bytes of a tensor; disposing releases any mapping behind them.</summary>
public readonly struct TensorBytes : IDisposable
{
    private readonly ReadOnlyMemory<byte> _memory;
    private readonly IDisposable? _owner;
    public TensorBytes(ReadOnlyMemory<byte> memory, IDisposable? owner) { _memory = memory; _owner = owner; }
    public ReadOnlySpan<byte> Span => _memory.Span;
    public ReadOnlyMemory<byte> Memory => _memory;
    public int Length => _memory.Length;
    public void Dispose() => _owner?.Dispose();
}

/// <summary>Bytes held in memory (created by a pass, or read from a file).</summary>
public sealed class MemoryTensorData : TensorData
{
    private readonly ReadOnlyMemory<byte> _bytes;
    public MemoryTensorData(ReadOnlyMemory<byte> bytes) { _bytes = bytes; }
    public override long Length => _bytes.Length;
    public override TensorBytes Open() => new(_bytes, null);
    internal ReadOnlyMemory<byte> Bytes => _bytes;
}

/// <summary>
/// Bytes produced only when somebody reads them (e.g. packed weights computed while the model is
/// written), so a pipeline can stream tensor by tensor instead of holding every result at once.
/// Each read fills a fresh native buffer that is freed on dispose: the memory goes back to the
/// system at once instead of waiting for a garbage collection, which keeps the resident set of a
/// streaming compile at about one tensor.
/// </summary>
public sealed class DeferredTensorData : TensorData
{
    private readonly long _length;
    private readonly Action<Span<byte>>? _fill;
    private readonly Func<ReadOnlyMemory<byte>>? _produce;

    /// <summary>Data written by <paramref name="fill"/> into a buffer of exactly <paramref name="length"/> bytes.</summary>
    public DeferredTensorData(long length, Action<Span<byte>> fill) { _length = length; _fill = fill; }

    /// <summary>Data returned whole by <paramref name="produce"/> (for small tensors).</summary>
    public DeferredTensorData(long length, Func<ReadOnlyMemory<byte>> produce) { _length = length; _produce = produce; }

    public override long Length => _length;

    public override bool IsComputed => true;

    public override TensorBytes Open()
    {
        if (_produce is not null)
        {
            var bytes = _produce();
            if (bytes.Length != _length)
                throw new InvalidOperationException($"deferred tensor produced {bytes.Length} bytes, promised {_length}");
            return new TensorBytes(bytes, null);
        }
        if (_length > int.MaxValue) throw new TernionException($"a computed tensor of {_length:N0} bytes is larger than one buffer can hold (2 GiB)");
        var buffer = new NativeBuffer((int)_length);
        try
        {
            _fill!(buffer.GetSpan());
            return new TensorBytes(buffer.Memory, buffer);
        }
        catch { ((IDisposable)buffer).Dispose(); throw; }
    }
}

/// <summary>Unmanaged memory exposed as Memory&lt;byte&gt;, freed (and returned to the system) on dispose.</summary>
public sealed unsafe class NativeBuffer : MemoryManager<byte>
{
    private byte* _ptr;
    private readonly int _length;

    public NativeBuffer(int length)
    {
        _length = length;
        _ptr = (byte*)NativeMemory.AlignedAlloc((nuint)Math.Max(length, 1), 64);
    }

    public override Span<byte> GetSpan() => _ptr is null ? throw new ObjectDisposedException(nameof(NativeBuffer)) : new(_ptr, _length);
    public override MemoryHandle Pin(int elementIndex = 0) => new(_ptr + elementIndex);
    public override void Unpin() { }

    protected override void Dispose(bool disposing)
    {
        if (_ptr is null) return;
        NativeMemory.AlignedFree(_ptr);
        _ptr = null;
    }
}

/// <summary>
/// Data stored inline in the model file: raw_data or the typed repeated fields of its TensorProto.
/// Small tensors are parsed with the rest of the model; the data field of a large one (a kilobyte
/// or more) is left in the file at load and read from there only when opened (see
/// <see cref="TensorPayload"/>), like external data.
/// </summary>
public sealed class ProtoTensorData : TensorData
{
    private readonly DataType _type;
    private readonly long _elements;
    private ReadOnlyMemory<byte>? _converted;

    internal ProtoTensorData(TensorProto dataFields, DataType type, long elements, TensorPayload? payload = null)
    {
        Proto = dataFields;
        _type = type;
        _elements = elements;
        Payload = payload;
    }

    /// <summary>
    /// The proto holding the data fields exactly as they were read (kept for a lossless save),
    /// except the field in <see cref="Payload"/>, which stays in the file.
    /// </summary>
    internal TensorProto Proto { get; }

    /// <summary>The one field of <see cref="Proto"/> left in the model file, if any.</summary>
    internal TensorPayload? Payload { get; }

    public bool IsRaw => Proto.HasRawData || Payload is { IsRaw: true };

    /// <summary>
    /// The proto holds one segment of a larger tensor (TensorProto.segment, a legacy feature no
    /// runtime reads). Its data does not match its dims, so it is carried as read and never opened.
    /// </summary>
    public bool HasSegment => Proto.Segment is not null;

    public override long Length =>
        Payload is { IsRaw: true } p ? p.Length : Proto.HasRawData ? Proto.RawData.Length : DataTypes.ByteCount(_type, _elements);

    public override TensorBytes Open()
    {
        if (HasSegment)
            throw new TernionException($"tensor '{Proto.Name}' is stored in segments (TensorProto.segment): Ternion carries it as it is but cannot read its values");
        if (Payload is { IsRaw: true } raw) return raw.OpenEncoded();
        if (Proto.HasRawData) return new TensorBytes(Proto.RawData.Memory, null);
        // An unknown data_type is carried as read, but its typed fields have no byte form to convert to.
        if (DataTypes.ByteCount(_type, _elements) < 0)
            throw new TernionException($"tensor '{Proto.Name}': element type {DataTypes.OnnxName(_type)} has no byte layout Ternion knows, so its values cannot be read");
        if (Payload is { } typed && typed.Field == TensorPayload.TypedFieldOf(_type))
            return typed.OpenAs(_type, DataTypes.ByteCount(_type, _elements), Proto.Name);
        _converted ??= TypedFieldsToRaw(Proto, _type, _elements);
        return new TensorBytes(_converted.Value, null);
    }

    /// <summary>Bytes left in the file go from the file to the stream (in the kernel when both are files).</summary>
    public override void CopyTo(Stream destination)
    {
        if (!HasSegment && (Payload is { IsRaw: true }
            || (!Proto.HasRawData && Payload is { Field: TensorPayload.FloatData or TensorPayload.DoubleData } p && p.Field == TensorPayload.TypedFieldOf(_type) && p.Length == Length)))
        {
            Payload!.CopyEncodedTo(destination);
            return;
        }
        base.CopyTo(destination);
    }

    internal static ReadOnlyMemory<byte> TypedFieldsToRaw(TensorProto p, DataType type, long elements)
    {
        long n = DataTypes.ByteCount(type, elements);
        var dst = new byte[n];
        switch (type)
        {
            case DataType.Float:
            case DataType.Complex64:
                MemoryMarshal.AsBytes(p.FloatData.ToArray().AsSpan()).CopyTo(dst);
                break;
            case DataType.Double:
            case DataType.Complex128:
                MemoryMarshal.AsBytes(p.DoubleData.ToArray().AsSpan()).CopyTo(dst);
                break;
            case DataType.Int64:
                MemoryMarshal.AsBytes(p.Int64Data.ToArray().AsSpan()).CopyTo(dst);
                break;
            case DataType.UInt64:
                MemoryMarshal.AsBytes(p.Uint64Data.ToArray().AsSpan()).CopyTo(dst);
                break;
            case DataType.UInt32:
                for (int i = 0; i < p.Uint64Data.Count; i++) BitConverter.TryWriteBytes(dst.AsSpan(i * 4), (uint)p.Uint64Data[i]);
                break;
            case DataType.Int32:
                MemoryMarshal.AsBytes(p.Int32Data.ToArray().AsSpan()).CopyTo(dst);
                break;
            case DataType.Int16 or DataType.UInt16 or DataType.Float16 or DataType.BFloat16:
                for (int i = 0; i < p.Int32Data.Count; i++) BitConverter.TryWriteBytes(dst.AsSpan(i * 2), (ushort)p.Int32Data[i]);
                break;
            default:
                // 8-bit and sub-byte types: one byte (already packed for 4- and 2-bit types) per int32 entry.
                for (int i = 0; i < p.Int32Data.Count && i < dst.Length; i++) dst[i] = (byte)p.Int32Data[i];
                break;
        }
        return dst;
    }

    /// <summary>Number of entries the typed field holds, for checking it against the dims.</summary>
    internal static long TypedCount(TensorProto p, DataType type) => type switch
    {
        DataType.Float or DataType.Complex64 => p.FloatData.Count,
        DataType.Double or DataType.Complex128 => p.DoubleData.Count,
        DataType.Int64 => p.Int64Data.Count,
        DataType.UInt64 or DataType.UInt32 => p.Uint64Data.Count,
        DataType.String => p.StringData.Count,
        _ => p.Int32Data.Count,
    };

    /// <summary>Entries the typed field must hold for this many elements.</summary>
    internal static long ExpectedTypedCount(DataType type, long elements) => type switch
    {
        DataType.Complex64 or DataType.Complex128 => elements * 2,
        DataType.UInt4 or DataType.Int4 or DataType.Float4E2M1 or DataType.UInt2 or DataType.Int2 => DataTypes.ByteCount(type, elements),
        _ => elements,
    };
}

/// <summary>
/// Data in an external file, addressed by key (location, offset, length) and memory-mapped only
/// while somebody reads it. The path was checked to stay inside the model's folder when loaded.
/// </summary>
public sealed class ExternalTensorData : TensorData
{
    public ExternalTensorData(string fullPath, string location, long offset, long length, string? checksum)
    {
        FullPath = fullPath; Location = location; Offset = offset; _length = length; Checksum = checksum;
    }

    private readonly long _length;
    public string FullPath { get; }
    /// <summary>The location key as written in the model (relative to the model's folder).</summary>
    public string Location { get; }
    public long Offset { get; }
    public string? Checksum { get; }
    public override long Length => _length;

    public override TensorBytes Open()
    {
        if (_length == 0) return new TensorBytes(ReadOnlyMemory<byte>.Empty, null);
        if (_length > int.MaxValue)
            throw new TernionException($"{FullPath}: tensor of {_length} bytes at offset {Offset} is larger than one read can hold (2 GiB); read it in chunks");
        var mgr = MappedRange.Create(FullPath, Offset, _length);
        return new TensorBytes(mgr.Memory, mgr);
    }

    /// <summary>Reads a range into <paramref name="destination"/> (for chunked processing of huge tensors).</summary>
    public void Read(long offset, Span<byte> destination)
    {
        // Nothing to read: do not open the file (opening a FIFO for reading blocks until a writer comes).
        if (destination.IsEmpty) return;
        using var handle = File.OpenHandle(FullPath, FileMode.Open, FileAccess.Read, FileShare.Read);
        int got = 0;
        while (got < destination.Length)
        {
            int n = RandomAccess.Read(handle, destination[got..], Offset + offset + got);
            if (n <= 0) throw new TernionException($"{FullPath}: unexpected end of file at offset {Offset + offset + got}");
            got += n;
        }
    }

    /// <summary>Streams with positional reads and a fixed buffer, so copying a huge tensor does not grow the resident set.</summary>
    public override void CopyTo(Stream destination)
    {
        // A zero-length tensor passes the load-time checks on any file, a FIFO included, and opening
        // a FIFO for reading blocks until a writer comes: a hostile archive could hang a convert.
        if (_length == 0) return;
        using var handle = File.OpenHandle(FullPath, FileMode.Open, FileAccess.Read, FileShare.Read, FileOptions.SequentialScan);
        FileRangeCopy.CopyTo(handle, FullPath, Offset, _length, destination);
    }
}
