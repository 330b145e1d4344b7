using Ternion.IR;

namespace Ternion.Passes.Constants;

/// <summary>
/// The operators <see cref="NativeConstantEvaluator"/> computes, with ONNX's semantics. Floating
/// point values of float16 and bfloat16 are computed in float32 and rounded to nearest even once per
/// operator, as ONNX Runtime's CPU kernels do; integers in 64 bits and wrapped to their width.
/// Anything whose result an implementation may choose (NaN through min/max, out-of-range casts,
/// over-wide shifts, division by zero) throws, so another evaluator decides.
/// </summary>
internal static partial class NativeOps
{
    private static readonly HashSet<string> Unary = ["Abs", "Neg", "Floor", "Ceil", "Round", "Reciprocal", "Sqrt", "Sign", "Relu"];
    private static readonly HashSet<string> Binary = ["Add", "Sub", "Mul", "Div", "Mod", "BitwiseAnd", "BitwiseOr", "BitwiseXor", "BitShift"];
    private static readonly HashSet<string> Layout = ["Identity", "Reshape", "Flatten", "Squeeze", "Unsqueeze", "Transpose", "Concat", "Expand", "Slice", "Gather"];
    private static readonly HashSet<string> Other = ["Min", "Max", "Clip", "Cast", "CastLike", "Constant", "Shape", "Size", "ConstantOfShape", "DequantizeLinear", "BitwiseNot",
        "ReduceSum", "ReduceMean", "ReduceMax", "ReduceMin"];

    public static bool Supports(Node n, out string? why)
    {
        why = null;
        if (n.DomainName.Length != 0) { why = "not an ONNX-domain operator"; return false; }
        if (Unary.Contains(n.OpType) || Binary.Contains(n.OpType) || Layout.Contains(n.OpType) || Other.Contains(n.OpType)) return true;
        why = n.OpType.StartsWith("Reduce", StringComparison.Ordinal)
            ? "a reduction whose order of additions is the runtime's own"
            : $"{n.OpType} has no native evaluation";
        return false;
    }

    /// <param name="consumable">Per input: this node is its last reader, so a float32 element-wise
    /// result may be written into its buffer instead of a new one (no allocation, no page faults).</param>
    public static ConstTensor?[] Run(Node n, ConstTensor?[] x, bool[]? consumable = null)
    {
        ConstTensor In(int i) => i < x.Length && x[i] is { } t ? t : throw new ConstantEvaluationException($"input {i} is missing");
        bool Own(int i) => consumable is not null && i < consumable.Length && consumable[i];
        return n.OpType switch
        {
            "Abs" or "Neg" or "Floor" or "Ceil" or "Round" or "Reciprocal" or "Sqrt" or "Sign" or "Relu" => [UnaryOp(n.OpType, In(0), Own(0))],
            "Add" or "Sub" or "Mul" or "Div" => [Arithmetic(n.OpType, In(0), In(1), Own(0), Own(1))],
            "Mod" => [Modulo(In(0), In(1), n.GetInt("fmod", 0) != 0)],
            "BitwiseAnd" or "BitwiseOr" or "BitwiseXor" => [Bitwise(n.OpType, In(0), In(1))],
            "BitwiseNot" => [BitwiseNot(In(0))],
            "BitShift" => [Shift(In(0), In(1), n.GetString("direction") ?? throw new ConstantEvaluationException("BitShift has no direction"))],
            "Min" or "Max" => [MinMax(n.OpType == "Max", x.OfType<ConstTensor>().ToArray())],
            "Clip" => [Clip(n, x, Own(0))],
            "Cast" => [Cast(In(0), (DataType)n.GetInt("to", 0))],
            "CastLike" => [Cast(In(0), In(1).Type)],
            "Constant" => [Constant(n)],
            "Identity" => [In(0).Reshaped(In(0).Dims)],
            "Reshape" => [Reshape(In(0), In(1), n.GetInt("allowzero", 0) != 0)],
            "Flatten" => [Flatten(In(0), n.GetInt("axis", 1))],
            "Squeeze" => [Squeeze(In(0), Axes(n, x, 1))],
            "Unsqueeze" => [Unsqueeze(In(0), Axes(n, x, 1) ?? throw new ConstantEvaluationException("Unsqueeze has no axes"))],
            "Transpose" => [Transpose(In(0), n.GetInts("perm")?.ToArray())],
            "Concat" => [Concat(x.OfType<ConstTensor>().ToArray(), n.GetInt("axis", long.MinValue))],
            "Expand" => [Expand(In(0), In(1))],
            "Slice" => [Slice(n, x)],
            "Gather" => [Gather(In(0), In(1), n.GetInt("axis", 0))],
            "Shape" => [ShapeOf(In(0), n.GetAttribute("start")?.AsInt, n.GetAttribute("end")?.AsInt)],
            "Size" => [ConstTensor.FromArray(DataType.Int64, [], new[] { In(0).ElementCount })],
            "ConstantOfShape" => [ConstantOfShape(n, In(0))],
            "DequantizeLinear" => [Dequantize(n, In(0), In(1), x.Length > 2 ? x[2] : null)],
            "ReduceSum" => [ReduceSumOrMean(n, x, mean: false)],
            "ReduceMean" => [ReduceSumOrMean(n, x, mean: true)],
            "ReduceMax" => [ReduceExtreme(n, x, max: true)],
            "ReduceMin" => [ReduceExtreme(n, x, max: false)],
            _ => throw new ConstantEvaluationException($"{n.OpType} has no native evaluation"),
        };
    }

    // ---- element types and lanes ----

    /// <summary>How a type is computed: float32 (float, float16, bfloat16), float64, or 64-bit integers.</summary>
    internal enum Lane { Float, Double, Int }

    internal static Lane LaneOf(DataType t) => t switch
    {
        DataType.Float or DataType.Float16 or DataType.BFloat16 => Lane.Float,
        DataType.Double => Lane.Double,
        DataType.Int8 or DataType.UInt8 or DataType.Int16 or DataType.UInt16 or DataType.Int32 or DataType.UInt32 or DataType.Int64 or DataType.Bool => Lane.Int,
        _ => throw new ConstantEvaluationException($"element type {DataTypes.ShortName(t)} has no native evaluation"),
    };

    internal static int ElementSize(DataType t)
    {
        int bits = DataTypes.BitWidth(t);
        if (bits < 8 || t == DataType.String) throw new ConstantEvaluationException($"element type {DataTypes.ShortName(t)} cannot be moved element by element");
        return bits / 8;
    }

    /// <summary>The values as float32 (a new tensor unless they already are).</summary>
    internal static ConstTensor ToFloatLane(ConstTensor t)
    {
        if (t.Type == DataType.Float) return t.Reshaped(t.Dims);
        var r = ConstTensor.Allocate(DataType.Float, t.Dims);
        var dst = r.AsWritable<float>();
        switch (t.Type)
        {
            case DataType.Float16:
            {
                var src = t.As<Half>();
                for (int i = 0; i < dst.Length; i++) dst[i] = (float)src[i];
                break;
            }
            case DataType.BFloat16:
            {
                var src = t.As<ushort>();
                for (int i = 0; i < dst.Length; i++) dst[i] = BitConverter.UInt32BitsToSingle((uint)src[i] << 16);
                break;
            }
            default:
                r.Dispose();
                throw new ConstantEvaluationException($"{DataTypes.ShortName(t.Type)} is not a float type");
        }
        return r;
    }

    /// <summary>Float32 values rounded (to nearest, ties to even) into <paramref name="type"/>; consumes <paramref name="f"/>.</summary>
    internal static ConstTensor FromFloatLane(ConstTensor f, DataType type)
    {
        if (type == DataType.Float) return f;
        using (f)
        {
            var r = ConstTensor.Allocate(type, f.Dims);
            var src = f.As<float>();
            switch (type)
            {
                case DataType.Float16:
                {
                    var dst = r.AsWritable<Half>();
                    for (int i = 0; i < src.Length; i++) dst[i] = (Half)src[i];
                    break;
                }
                case DataType.BFloat16:
                {
                    var dst = r.AsWritable<ushort>();
                    for (int i = 0; i < src.Length; i++) dst[i] = BFloat16Bits(src[i]);
                    break;
                }
                default:
                    r.Dispose();
                    throw new ConstantEvaluationException($"{DataTypes.ShortName(type)} is not a float type");
            }
            return r;
        }
    }

    internal static ushort BFloat16Bits(float v)
    {
        uint bits = BitConverter.SingleToUInt32Bits(v);
        if (float.IsNaN(v)) return (ushort)((bits >> 16) | 0x0040);
        return (ushort)((bits + 0x7FFF + ((bits >> 16) & 1)) >> 16);
    }

    /// <summary>Integer values (and bools) widened to int64.</summary>
    internal static ConstTensor ToIntLane(ConstTensor t)
    {
        if (t.Type == DataType.Int64) return t.Reshaped(t.Dims);
        var r = ConstTensor.Allocate(DataType.Int64, t.Dims);
        var dst = r.AsWritable<long>();
        var b = t.Bytes;
        switch (t.Type)
        {
            case DataType.Int8: { var s = t.As<sbyte>(); for (int i = 0; i < dst.Length; i++) dst[i] = s[i]; break; }
            case DataType.UInt8 or DataType.Bool: for (int i = 0; i < dst.Length; i++) dst[i] = b[i]; break;
            case DataType.Int16: { var s = t.As<short>(); for (int i = 0; i < dst.Length; i++) dst[i] = s[i]; break; }
            case DataType.UInt16: { var s = t.As<ushort>(); for (int i = 0; i < dst.Length; i++) dst[i] = s[i]; break; }
            case DataType.Int32: { var s = t.As<int>(); for (int i = 0; i < dst.Length; i++) dst[i] = s[i]; break; }
            case DataType.UInt32: { var s = t.As<uint>(); for (int i = 0; i < dst.Length; i++) dst[i] = s[i]; break; }
            default:
                r.Dispose();
                throw new ConstantEvaluationException($"{DataTypes.ShortName(t.Type)} is not an integer type");
        }
        return r;
    }

    /// <summary>Int64 values wrapped to <paramref name="type"/>'s width (two's complement, as C++ casts do); consumes <paramref name="l"/>.</summary>
    internal static ConstTensor FromIntLane(ConstTensor l, DataType type)
    {
        if (type == DataType.Int64) return l;
        using (l)
        {
            var r = ConstTensor.Allocate(type, l.Dims);
            var src = l.As<long>();
            var w = r.Writable;
            switch (type)
            {
                case DataType.Int8 or DataType.UInt8: for (int i = 0; i < src.Length; i++) w[i] = unchecked((byte)src[i]); break;
                case DataType.Bool: for (int i = 0; i < src.Length; i++) w[i] = src[i] != 0 ? (byte)1 : (byte)0; break;
                case DataType.Int16 or DataType.UInt16: { var d = r.AsWritable<ushort>(); for (int i = 0; i < src.Length; i++) d[i] = unchecked((ushort)src[i]); break; }
                case DataType.Int32 or DataType.UInt32: { var d = r.AsWritable<uint>(); for (int i = 0; i < src.Length; i++) d[i] = unchecked((uint)src[i]); break; }
                default:
                    r.Dispose();
                    throw new ConstantEvaluationException($"{DataTypes.ShortName(type)} is not an integer type");
            }
            return r;
        }
    }

    internal static long[] Int64Values(ConstTensor t, string what)
    {
        if (t.Type is not (DataType.Int64 or DataType.Int32)) throw new ConstantEvaluationException($"{what} is {DataTypes.ShortName(t.Type)}, not int64");
        return t.Type == DataType.Int64 ? t.As<long>().ToArray() : t.As<int>().ToArray().Select(i => (long)i).ToArray();
    }

    internal static int NormalizeAxis(long axis, int rank, string what)
    {
        long a = axis < 0 ? axis + rank : axis;
        if (a < 0 || a >= rank) throw new ConstantEvaluationException($"{what} {axis} is outside rank {rank}");
        return (int)a;
    }

    internal static string DimsText(long[] d) => "[" + string.Join(",", d) + "]";
}
