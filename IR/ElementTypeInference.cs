namespace Ternion.IR;

/// <summary>
/// Finds the element type of a value that carries no type annotation, by following producers:
/// exporters often leave intermediates without value_info, while passes need to know T.
/// Only element types, never shapes; Undefined when it cannot tell.
/// </summary>
public static class ElementTypeInference
{
    private static readonly HashSet<string> BoolOps = ["Equal", "Less", "LessOrEqual", "Greater", "GreaterOrEqual", "Not", "And", "Or", "Xor", "IsNaN", "IsInf"];
    private static readonly HashSet<string> Int64Ops = ["Shape", "Size", "NonZero", "ArgMax", "ArgMin"];

    public static DataType Infer(Value? v)
    {
        for (int steps = 0; v is not null && steps < 10_000; steps++)
        {
            if (v.ElemType != DataType.Undefined) return v.ElemType;
            var n = v.Producer;
            if (n is null) return DataType.Undefined;
            if (n.DomainName == "com.ternion" && n.OpType == "TernaryDecode") { v = n.Input(1); continue; }
            if (n.DomainName == "com.ternion" && n.OpType is "TernaryMatMul" or "TernaryMatMulAbsmaxInt8") { v = n.Input(0); continue; }
            if (n.DomainName.Length != 0) return DataType.Undefined;
            switch (n.OpType)
            {
                case "Cast": return (DataType)n.GetInt("to", 0);
                case "CastLike" or "Where" or "DequantizeLinear": v = n.Input(1); continue;
                case "Constant":
                    if (n.GetAttribute("value")?.AsTensor is { } t) return t.DataType;
                    if (n.GetAttribute("value_float") is not null || n.GetAttribute("value_floats") is not null) return DataType.Float;
                    if (n.GetAttribute("value_int") is not null || n.GetAttribute("value_ints") is not null) return DataType.Int64;
                    if (n.GetAttribute("value_string") is not null || n.GetAttribute("value_strings") is not null) return DataType.String;
                    return DataType.Undefined;
                case "ConstantOfShape": return n.GetAttribute("value")?.AsTensor?.DataType ?? DataType.Float;
                case "TopK" when ReferenceEquals(n.Outputs.ElementAtOrDefault(1), v): return DataType.Int64;
                case "QuantizeLinear": return n.Input(2)?.ElemType is { } z and not DataType.Undefined ? z : DataType.UInt8;
            }
            if (BoolOps.Contains(n.OpType)) return DataType.Bool;
            if (Int64Ops.Contains(n.OpType)) return DataType.Int64;
            // Most operators keep the element type of their first input (MatMul, Add, Reshape, Transpose, Softmax ...).
            v = n.Inputs.FirstOrDefault(i => i is not null);
        }
        return DataType.Undefined;
    }
}
