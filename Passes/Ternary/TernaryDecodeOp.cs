using Ternion.IR;
using Ternion.IR.Ternary;

namespace Ternion.Passes.Ternary;

/// <summary>The com.ternion::TernaryDecode operator (spec section 5): building, reading and checking nodes.</summary>
public static class TernaryDecodeOp
{
    public const string Domain = "com.ternion";
    public const string OpType = "TernaryDecode";
    public const long Version = 1;

    public static bool Is(Node n) => n.OpType == OpType && n.DomainName == Domain;

    public static Node Create(Value packed, Value scale, long[] shape, int axis, int blockSize, DataType type, string outputName = "")
    {
        var output = new Value(outputName, IrType.Tensor(type, shape));
        return new Node(Domain, OpType, [packed, scale], [output],
            [Attribute.Ints("shape", shape), Attribute.Int("axis", axis), Attribute.Int("block_size", blockSize)]);
    }

    /// <summary>The layout a node declares, checked against its inputs per the shape rule; throws naming the node.</summary>
    public static TernaryLayout Layout(Node n)
    {
        var shape = n.GetInts("shape")?.ToArray() ?? throw Bad(n, "has no 'shape' attribute");
        long axis = n.GetInt("axis", 0);
        if (axis < 0) axis += shape.Length;
        long bs = n.GetInt("block_size", TernaryLayout.DefaultBlockSize);
        if (bs is not (320 or 640)) throw Bad(n, $"block_size {bs} is not 320 or 640");
        if (axis < 0 || axis >= shape.Length) throw Bad(n, $"axis {n.GetInt("axis", 0)} is outside shape [{string.Join(",", shape)}]");
        TernaryLayout layout;
        try { layout = new TernaryLayout(shape, (int)axis, (int)bs); }
        catch (TernionException e) { throw Bad(n, e.Message); }
        if (n.Input(0) is { Initializer: { } p })
        {
            if (p.DataType != DataType.UInt8) throw Bad(n, $"packed input '{p.Name}' is {DataTypes.ShortName(p.DataType)}, not uint8");
            if (p.Dims.Length != 2 || p.Dims[0] != layout.M || p.Dims[1] != layout.RowBytes)
                throw Bad(n, $"packed input '{n.Input(0)!.Name}' is [{string.Join(",", p.Dims)}] but shape [{string.Join(",", shape)}] along axis {axis} with block {bs} needs [{layout.M},{layout.RowBytes}]");
        }
        if (n.Input(1) is { Initializer: { } s })
        {
            bool ok = s.ElementCount == 1 && s.Dims.Length == 0 || s.Dims.Length == 1 && s.Dims[0] == layout.M;
            if (!ok) throw Bad(n, $"scale '{n.Input(1)!.Name}' is [{string.Join(",", s.Dims)}]; it must be [] or [{layout.M}]");
            if (s.DataType is not (DataType.Float or DataType.Float16 or DataType.BFloat16 or DataType.Double))
                throw Bad(n, $"scale '{n.Input(1)!.Name}' is {DataTypes.ShortName(s.DataType)}, not float, float16 or bfloat16");
        }
        return layout;
    }

    private static TernionException Bad(Node n, string why) => new($"TernaryDecode {n.Describe()}: {why}");

    /// <summary>Stamps the model as holding TTF1 data (spec section 6) and imports the domain.</summary>
    public static void MarkModel(Model m)
    {
        m.RequireOpset(Domain, Version);
        m.Metadata.Set(TernaryLut.FormatKey, TernaryLut.FormatName);
        m.Metadata.Set(TernaryLut.Sha256Key, TernaryLut.Sha256Hex);
    }

    /// <summary>Removes the domain import, the function and the TTF1 stamps once no TernaryDecode node is left.</summary>
    public static void UnmarkIfUnused(Model m)
    {
        if (m.AllNodes().Any(Is)) return;
        m.Functions.RemoveAll(f => f.Domain == Domain && f.Name == OpType);
        if (!m.AllNodes().Any(n => n.DomainName == Domain))
        {
            m.OpsetImports.RemoveAll(o => o.DomainName == Domain);
            m.Metadata.RemoveAll(e => e.Key is TernaryLut.FormatKey or TernaryLut.Sha256Key);
        }
    }
}
