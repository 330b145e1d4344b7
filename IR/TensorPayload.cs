using System.Buffers.Binary;
using System.IO.MemoryMappedFiles;
using System.Runtime.InteropServices;
using Google.Protobuf;
using Microsoft.Win32.SafeHandles;
using Ternion.IR.Onnx;

namespace Ternion.IR;

/// <summary>Where the bytes of out-of-line tensor fields live: the model file, or the byte array a model was parsed from.</summary>
internal abstract class PayloadSource
{
    /// <summary>Names the source in errors (the model file as the user gave it).</summary>
    public abstract string Name { get; }
    public abstract TensorBytes Open(long offset, int length);
    public abstract void CopyTo(long offset, long length, Stream destination);
}

/// <summary>
/// The model file, held open from load for as long as any tensor refers to it: a file renamed over
/// or deleted after loading keeps its old contents readable (the descriptor pins the inode), so an
/// output written next to its input, even onto the input's name, cannot change a loaded model. The
/// descriptor closes when the last tensor holding it is collected. Truncating the file in place
/// while a model reads it is the one change that still breaks reads (see docs/security.md).
/// </summary>
internal sealed class ModelFileSource : PayloadSource
{
    private readonly SafeFileHandle _handle;
    private MemoryMappedFile? _mapping;

    public ModelFileSource(SafeFileHandle handle, string fullPath, string name, long length)
    {
        _handle = handle; FullPath = fullPath; Name = name; Length = length;
    }

    public override string Name { get; }
    /// <summary>The file's absolute path when it was opened (a save refuses to overwrite it).</summary>
    public string FullPath { get; }
    public long Length { get; }

    private MemoryMappedFile Mapping => LazyInitializer.EnsureInitialized(ref _mapping, () =>
        MemoryMappedFile.CreateFromFile(_handle, null, 0, MemoryMappedFileAccess.Read, HandleInheritability.None, leaveOpen: true));

    /// <summary>The whole file, mapped for the scan at load (unmapped when the result is disposed).</summary>
    public MappedRange MapAll() => MappedRange.Create(Mapping, ownsFile: false, 0, Length);

    public override TensorBytes Open(long offset, int length)
    {
        if (length == 0) return new TensorBytes(ReadOnlyMemory<byte>.Empty, null);
        var range = MappedRange.Create(Mapping, ownsFile: false, offset, length);
        return new TensorBytes(range.Memory, range);
    }

    public override void CopyTo(long offset, long length, Stream destination) =>
        FileRangeCopy.CopyTo(_handle, Name, offset, length, destination);

    /// <summary>Closes the file now (when the load kept nothing out of line, nothing will read it again).</summary>
    public void Close()
    {
        _mapping?.Dispose();
        _handle.Dispose();
    }
}

/// <summary>A caller's byte array (ModelSerializer.FromBytes): tensors are slices of it, not copies.</summary>
internal sealed class MemorySource(ReadOnlyMemory<byte> bytes, string name) : PayloadSource
{
    public override string Name { get; } = name;
    public override TensorBytes Open(long offset, int length) => new(bytes.Slice((int)offset, length), null);
    public override void CopyTo(long offset, long length, Stream destination) => destination.Write(bytes.Span.Slice((int)offset, (int)length));
}

/// <summary>
/// One field of a TensorProto left where it lies at load (raw_data, or a packed float_data,
/// int32_data, int64_data, double_data or uint64_data): its encoded bytes, exactly as in the file.
/// The rest of the TensorProto is parsed as usual and this field is added back when it is written.
/// </summary>
internal sealed class TensorPayload
{
    public const int FloatData = 4, Int32Data = 5, Int64Data = 7, RawData = 9, DoubleData = 10, Uint64Data = 11;

    public TensorPayload(PayloadSource source, long offset, int length, int field, long count)
    {
        Source = source; Offset = offset; Length = length; Field = field; Count = count;
    }

    public PayloadSource Source { get; }
    /// <summary>Offset of the field's value (after its tag and length) in the source.</summary>
    public long Offset { get; }
    /// <summary>Encoded length in bytes.</summary>
    public int Length { get; }
    /// <summary>The TensorProto field number.</summary>
    public int Field { get; }
    /// <summary>Values the field holds (bytes for raw_data).</summary>
    public long Count { get; }

    public bool IsRaw => Field == RawData;
    public bool IsVarint => Field is Int32Data or Int64Data or Uint64Data;

    /// <summary>Whether a field number can be held out of line, and the size of one value (0 for varints, 1 for raw bytes).</summary>
    public static bool IsCandidate(int field, out int fixedSize)
    {
        fixedSize = field switch { RawData => 1, FloatData => 4, DoubleData => 8, _ => 0 };
        return field is RawData or FloatData or DoubleData or Int32Data or Int64Data or Uint64Data;
    }

    /// <summary>The typed field ProtoTensorData reads for a data type (as TypedCount does).</summary>
    public static int TypedFieldOf(DataType type) => type switch
    {
        DataType.Float or DataType.Complex64 => FloatData,
        DataType.Double or DataType.Complex128 => DoubleData,
        DataType.Int64 => Int64Data,
        DataType.UInt64 or DataType.UInt32 => Uint64Data,
        DataType.String => 6,
        _ => Int32Data,
    };

    /// <summary>
    /// Counts the varints of a packed field, or returns false when the bytes are not a whole number
    /// of varints of at most 10 bytes each (the protobuf library then reports the problem).
    /// </summary>
    public static bool TryCountVarints(ReadOnlySpan<byte> bytes, out long count)
    {
        count = 0;
        if (bytes.IsEmpty) return true;
        if (bytes[^1] >= 0x80) return false;
        int run = 0;
        foreach (byte b in bytes)
        {
            if (b < 0x80) { count++; run = 0; }
            else if (++run >= 10) return false;
        }
        return true;
    }

    private static ulong NextVarint(ReadOnlySpan<byte> s, ref int pos)
    {
        // The bytes were checked at load (TryCountVarints): every varint ends within 10 bytes.
        ulong v = 0;
        for (int shift = 0; ; shift += 7)
        {
            byte b = s[pos++];
            v |= (ulong)(b & 0x7F) << shift;
            if (b < 0x80) return v;
        }
    }

    public TensorBytes OpenEncoded() => Source.Open(Offset, Length);

    public void CopyEncodedTo(Stream destination) => Source.CopyTo(Offset, Length, destination);

    /// <summary>
    /// The tensor's bytes for <paramref name="type"/> from this typed field, converted as
    /// ProtoTensorData converts the parsed fields: float and double fields are already that
    /// layout (a view, no copy); varint fields are decoded into a buffer freed on dispose.
    /// </summary>
    public TensorBytes OpenAs(DataType type, long byteCount, string tensorName)
    {
        if (Field is FloatData or DoubleData)
        {
            if (Length != byteCount) throw Mismatch(tensorName, byteCount);
            return OpenEncoded();
        }
        if (byteCount > int.MaxValue)
            throw new TernionException($"tensor '{tensorName}': {byteCount:N0} bytes decoded from its {FieldName} field are more than one buffer can hold (2 GiB)");
        var buffer = new NativeBuffer((int)byteCount);
        try
        {
            var dst = buffer.GetSpan();
            dst.Clear();
            using (var enc = OpenEncoded())
            {
                var s = enc.Span;
                int elementSize = type switch
                {
                    DataType.Int64 or DataType.UInt64 => 8,
                    DataType.UInt32 or DataType.Int32 => 4,
                    DataType.Int16 or DataType.UInt16 or DataType.Float16 or DataType.BFloat16 => 2,
                    _ => 1,
                };
                long i = 0;
                for (int pos = 0; pos < s.Length; i++)
                {
                    ulong v = NextVarint(s, ref pos);
                    long at = i * elementSize;
                    if (elementSize == 1)
                    {
                        // 8-bit and sub-byte types: one byte per entry, as many as the dims need.
                        if (at < dst.Length) dst[(int)at] = (byte)(int)v;
                        continue;
                    }
                    if (at + elementSize > dst.Length) throw Mismatch(tensorName, byteCount);
                    var d = dst.Slice((int)at, elementSize);
                    switch (elementSize)
                    {
                        case 8: BinaryPrimitives.WriteUInt64LittleEndian(d, v); break;
                        case 4: BinaryPrimitives.WriteInt32LittleEndian(d, (int)v); break;
                        default: BinaryPrimitives.WriteUInt16LittleEndian(d, (ushort)(int)v); break;
                    }
                }
            }
            return new TensorBytes(buffer.Memory, buffer);
        }
        catch { ((IDisposable)buffer).Dispose(); throw; }
    }

    private string FieldName => Field switch
    {
        FloatData => "float_data", Int32Data => "int32_data", Int64Data => "int64_data",
        DoubleData => "double_data", Uint64Data => "uint64_data", _ => "raw_data",
    };

    private TernionException Mismatch(string tensorName, long byteCount) =>
        new($"tensor '{tensorName}': its {FieldName} field ({Count:N0} values) does not fill the {byteCount:N0} bytes its dims need");

    /// <summary>Puts the field back into a parsed proto (for in-memory uses such as ModelSerializer.ToProto).</summary>
    public void MaterializeInto(TensorProto p)
    {
        using var enc = OpenEncoded();
        var s = enc.Span;
        switch (Field)
        {
            case RawData: p.RawData = ByteString.CopyFrom(s); break;
            case FloatData: p.FloatData.AddRange(MemoryMarshal.Cast<byte, float>(s).ToArray()); break;
            case DoubleData: p.DoubleData.AddRange(MemoryMarshal.Cast<byte, double>(s).ToArray()); break;
            default:
                for (int pos = 0; pos < s.Length;)
                {
                    ulong v = NextVarint(s, ref pos);
                    if (Field == Int32Data) p.Int32Data.Add((int)v);
                    else if (Field == Int64Data) p.Int64Data.Add((long)v);
                    else p.Uint64Data.Add(v);
                }
                break;
        }
    }
}
