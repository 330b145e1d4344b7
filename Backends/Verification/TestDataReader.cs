using Google.Protobuf;
using Ternion.IR;
using Ternion.IR.Onnx;
using Ternion.IR.Serialization;

namespace Ternion.Backends.Verification;

/// <summary>Reads ONNX test data files (input_N.pb / output_N.pb): tensors, sequences, maps and optionals.</summary>
public static class TestDataReader
{
    /// <summary>Reads a value; <paramref name="declared"/> (the model's type for it) tells which container the file holds.</summary>
    public static RunValue Read(string path, IrType? declared)
    {
        var bytes = File.ReadAllBytes(path);
        try
        {
            return declared?.Kind switch
            {
                TypeKind.Sequence => FromSequence(SequenceProto.Parser.ParseFrom(bytes)),
                TypeKind.Map => FromMap(MapProto.Parser.ParseFrom(bytes)),
                TypeKind.Optional => FromOptional(OptionalProto.Parser.ParseFrom(bytes)),
                _ => FromTensor(TensorProto.Parser.ParseFrom(bytes)),
            };
        }
        catch (InvalidProtocolBufferException e)
        {
            throw new TernionException($"{path}: not a valid ONNX test data file ({e.Message.Split('\n')[0]})");
        }
    }

    /// <summary>The name stored in a test data file (TensorProto.name and the like), or null.</summary>
    public static string? ReadName(string path, IrType? declared)
    {
        var bytes = File.ReadAllBytes(path);
        string? n;
        try
        {
            n = declared?.Kind switch
            {
                TypeKind.Sequence => SequenceProto.Parser.ParseFrom(bytes).Name,
                TypeKind.Map => MapProto.Parser.ParseFrom(bytes).Name,
                TypeKind.Optional => OptionalProto.Parser.ParseFrom(bytes).Name,
                _ => TensorProto.Parser.ParseFrom(bytes).Name,
            };
        }
        catch (InvalidProtocolBufferException e)
        {
            // Read would say the same; the name is asked for first, so it must not surface as a bare I/O error.
            throw new TernionException($"{path}: not a valid ONNX test data file ({e.Message.Split('\n')[0]})");
        }
        return string.IsNullOrEmpty(n) ? null : n;
    }

    public static RunValue FromTensor(TensorProto p)
    {
        var t = ModelSerializer.TensorFromProto(p);
        if (t.DataType == DataType.String)
            return new RunValue { ElemType = DataType.String, Dims = t.Dims, Strings = p.StringData.Select(s => s.ToStringUtf8()).ToArray() };
        using var b = t.Data.Open();
        return new RunValue { ElemType = t.DataType, Dims = t.Dims, Bytes = b.Span.ToArray() };
    }

    private static RunValue FromSequence(SequenceProto s)
    {
        var els = new List<RunValue>();
        els.AddRange(s.TensorValues.Select(FromTensor));
        els.AddRange(s.SequenceValues.Select(FromSequence));
        els.AddRange(s.MapValues.Select(FromMap));
        els.AddRange(s.OptionalValues.Select(FromOptional));
        return new RunValue { Kind = RunValueKind.Sequence, Elements = els };
    }

    private static RunValue FromMap(MapProto m)
    {
        RunValue keys = m.StringKeys.Count > 0
            ? new RunValue { ElemType = DataType.String, Dims = [m.StringKeys.Count], Strings = m.StringKeys.Select(k => k.ToStringUtf8()).ToArray() }
            : RunValue.FromArray((DataType)m.KeyType, [m.Keys.Count], m.Keys.ToArray());
        var values = m.Values is null ? new RunValue { Kind = RunValueKind.Sequence } : FromSequence(m.Values);
        return new RunValue { Kind = RunValueKind.Map, Elements = [keys, values] };
    }

    private static RunValue FromOptional(OptionalProto o)
    {
        RunValue? inner = o.TensorValue is not null ? FromTensor(o.TensorValue)
            : o.SequenceValue is not null ? FromSequence(o.SequenceValue)
            : o.MapValue is not null ? FromMap(o.MapValue)
            : o.OptionalValue is not null ? FromOptional(o.OptionalValue) : null;
        return new RunValue { Kind = RunValueKind.Optional, Elements = inner is null ? [] : [inner] };
    }
}
