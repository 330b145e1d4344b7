using Ternion.IR.Onnx;

namespace Ternion.IR;

/// <summary>One dimension of a shape: a known size, a symbolic name, or unknown (neither).</summary>
public readonly record struct Dim(long? Value, string? Param, string? Denotation = null)
{
    public static Dim Of(long v) => new(v, null);
    public static Dim Symbol(string p) => new(null, p);
    public static Dim Unknown => new(null, null);
    public bool IsKnown => Value.HasValue;
    public override string ToString() => Value?.ToString() ?? Param ?? "?";
    public static implicit operator Dim(long v) => Of(v);
}

/// <summary>An immutable tensor shape.</summary>
public sealed class Shape : IEquatable<Shape>
{
    private readonly Dim[] _dims;
    public Shape(IEnumerable<Dim> dims) { _dims = dims.ToArray(); }
    public Shape(params long[] dims) { _dims = dims.Select(Dim.Of).ToArray(); }
    public IReadOnlyList<Dim> Dims => _dims;
    public int Rank => _dims.Length;
    public Dim this[int i] => _dims[i];
    public bool IsStatic => _dims.All(d => d.IsKnown);
    public long[]? TryGetStatic() => IsStatic ? _dims.Select(d => d.Value!.Value).ToArray() : null;
    public bool Equals(Shape? other) => other is not null && _dims.AsSpan().SequenceEqual(other._dims);
    public override bool Equals(object? obj) => Equals(obj as Shape);
    public override int GetHashCode() => _dims.Aggregate(17, (h, d) => h * 31 + d.GetHashCode());
    public override string ToString() => "[" + string.Join(",", _dims.Select(d => d.ToString())) + "]";

    internal static Shape FromProto(TensorShapeProto p) =>
        new(p.Dim.Select(d => new Dim(
            d.ValueCase == TensorShapeProto.Types.Dimension.ValueOneofCase.DimValue ? d.DimValue : null,
            d.ValueCase == TensorShapeProto.Types.Dimension.ValueOneofCase.DimParam ? d.DimParam : null,
            d.HasDenotation ? d.Denotation : null)));

    internal TensorShapeProto ToProto()
    {
        var p = new TensorShapeProto();
        foreach (var d in _dims)
        {
            var pd = new TensorShapeProto.Types.Dimension();
            if (d.Value is long v) pd.DimValue = v;
            else if (d.Param is string s) pd.DimParam = s;
            if (d.Denotation is string den) pd.Denotation = den;
            p.Dim.Add(pd);
        }
        return p;
    }
}

public enum TypeKind { None, Tensor, Sequence, Map, Optional, SparseTensor, Opaque }

/// <summary>
/// The type of a value (ONNX TypeProto). Immutable. It keeps the original proto so that rarely used
/// details (denotations, nested sequence/map/optional types) round-trip exactly.
/// </summary>
public sealed class IrType : IEquatable<IrType>
{
    private readonly TypeProto _proto;
    private Shape? _shape;
    private bool _shapeParsed;

    private IrType(TypeProto proto) { _proto = proto; }

    public static IrType FromProto(TypeProto proto) => new(proto.Clone());

    public static IrType Tensor(DataType elemType, Shape? shape)
    {
        var t = new TypeProto.Types.Tensor { ElemType = (int)elemType };
        if (shape is not null) t.Shape = shape.ToProto();
        return new IrType(new TypeProto { TensorType = t });
    }

    public static IrType Tensor(DataType elemType, params long[] dims) => Tensor(elemType, new Shape(dims));

    public TypeProto ToProto() => _proto.Clone();

    public TypeKind Kind => _proto.ValueCase switch
    {
        TypeProto.ValueOneofCase.TensorType => TypeKind.Tensor,
        TypeProto.ValueOneofCase.SequenceType => TypeKind.Sequence,
        TypeProto.ValueOneofCase.MapType => TypeKind.Map,
        TypeProto.ValueOneofCase.OptionalType => TypeKind.Optional,
        TypeProto.ValueOneofCase.SparseTensorType => TypeKind.SparseTensor,
        TypeProto.ValueOneofCase.OpaqueType => TypeKind.Opaque,
        _ => TypeKind.None,
    };

    /// <summary>Element type of a tensor or sparse tensor type; Undefined otherwise.</summary>
    public DataType ElemType => _proto.ValueCase switch
    {
        TypeProto.ValueOneofCase.TensorType => (DataType)_proto.TensorType.ElemType,
        TypeProto.ValueOneofCase.SparseTensorType => (DataType)_proto.SparseTensorType.ElemType,
        _ => DataType.Undefined,
    };

    /// <summary>Shape of a tensor type, or null when the type carries no shape (rank unknown).</summary>
    public Shape? Shape
    {
        get
        {
            if (!_shapeParsed)
            {
                _shape = _proto.ValueCase switch
                {
                    TypeProto.ValueOneofCase.TensorType when _proto.TensorType.Shape is { } s => Shape.FromProto(s),
                    TypeProto.ValueOneofCase.SparseTensorType when _proto.SparseTensorType.Shape is { } s => Shape.FromProto(s),
                    _ => null,
                };
                _shapeParsed = true;
            }
            return _shape;
        }
    }

    /// <summary>Element type of a sequence or optional; value type of a map.</summary>
    public IrType? ElementType => _proto.ValueCase switch
    {
        TypeProto.ValueOneofCase.SequenceType when _proto.SequenceType.ElemType is { } e => new IrType(e),
        TypeProto.ValueOneofCase.OptionalType when _proto.OptionalType.ElemType is { } e => new IrType(e),
        TypeProto.ValueOneofCase.MapType when _proto.MapType.ValueType is { } e => new IrType(e),
        _ => null,
    };

    public DataType MapKeyType => _proto.ValueCase == TypeProto.ValueOneofCase.MapType ? (DataType)_proto.MapType.KeyType : DataType.Undefined;

    public IrType WithShape(Shape? shape) => Tensor(ElemType, shape);

    public bool Equals(IrType? other) => other is not null && _proto.Equals(other._proto);
    public override bool Equals(object? obj) => Equals(obj as IrType);
    public override int GetHashCode() => _proto.GetHashCode();

    public override string ToString() => Kind switch
    {
        TypeKind.Tensor => $"{DataTypes.ShortName(ElemType)}{Shape?.ToString() ?? "[?]"}",
        TypeKind.SparseTensor => $"sparse {DataTypes.ShortName(ElemType)}{Shape?.ToString() ?? "[?]"}",
        TypeKind.Sequence => $"seq({ElementType})",
        TypeKind.Optional => $"optional({ElementType})",
        TypeKind.Map => $"map({DataTypes.ShortName(MapKeyType)},{ElementType})",
        TypeKind.Opaque => $"opaque({_proto.OpaqueType.Domain}.{_proto.OpaqueType.Name})",
        _ => "?",
    };
}

/// <summary>A metadata_props entry (key/value strings; either may be absent in a hostile file).</summary>
public sealed record MetadataEntry(string? Key, string? Value)
{
    internal static MetadataEntry FromProto(StringStringEntryProto p) => new(p.HasKey ? p.Key : null, p.HasValue ? p.Value : null);
    internal StringStringEntryProto ToProto()
    {
        var p = new StringStringEntryProto();
        if (Key is not null) p.Key = Key;
        if (Value is not null) p.Value = Value;
        return p;
    }
}

public static class MetadataExtensions
{
    public static string? Get(this IReadOnlyList<MetadataEntry> list, string key) => list.LastOrDefault(e => e.Key == key)?.Value;

    /// <summary>Sets key to value, replacing an existing entry in place so the order is kept.</summary>
    public static void Set(this List<MetadataEntry> list, string key, string value)
    {
        int i = list.FindIndex(e => e.Key == key);
        if (i >= 0) list[i] = new MetadataEntry(key, value); else list.Add(new MetadataEntry(key, value));
    }
}

/// <summary>An opset import: a domain ("" is the default ONNX domain) and its version.</summary>
public sealed record OpsetId(string? Domain, long? Version)
{
    public string DomainName => Domain ?? "";
}
