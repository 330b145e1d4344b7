using Ternion.IR;

namespace Ternion.Passes.Constants;

/// <summary>
/// Evaluates cones made of operators whose results IEEE 754 and ONNX define exactly (element-wise
/// arithmetic, rounding, comparisons to bounds, casts, bit operations, layout changes,
/// DequantizeLinear), so any correct implementation, ONNX Runtime's included, gives the same bits.
/// Reductions, transcendental functions and everything else are left to another evaluator: a sum's
/// bits depend on the order of its additions, which is the runtime's own.
/// Memory: an intermediate is freed as soon as its last reader in the cone has run.
/// </summary>
public sealed class NativeConstantEvaluator : IConstantEvaluator
{
    public string Name => "native";

    /// <summary>
    /// Whether every node of the cone has a native implementation (data-dependent refusals can still
    /// happen). Evaluate returns null for what it cannot promise, and throws a
    /// <see cref="ConstantEvaluationException"/> marked undefined for a value nobody defines.
    /// </summary>
    public static bool CanEvaluate(ConstantCone cone, out string? whyNot)
    {
        foreach (var n in cone.Nodes)
            if (!NativeOps.Supports(n, out var why)) { whyNot = $"{n.Describe()}: {why}"; return false; }
        whyNot = null;
        return true;
    }

    /// <summary>
    /// Mul(y, Div(1, x)) where the Div's only reader is that Mul: ONNX Runtime rewrites it to Div(y, x)
    /// before it folds constants (its DivMulFusion rule), and y / x rounds differently from y * (1/x),
    /// so the native evaluator computes what ORT does. Keyed by the Mul: which input is the reciprocal,
    /// and the divisor x.
    /// </summary>
    internal static Dictionary<Node, (int ReciprocalInput, Value Divisor)> FusedDivisions(ConstantCone cone)
    {
        var fused = new Dictionary<Node, (int, Value)>();
        foreach (var mul in cone.Nodes)
        {
            if (mul.OpType != "Mul" || mul.DomainName.Length != 0 || mul.Inputs.Count != 2) continue;
            for (int i = 0; i < 2; i++)
            {
                var r = mul.Input(i);
                if (r is null || r.Producer is not { OpType: "Div" } div || div.DomainName.Length != 0 || !cone.Contains(div)) continue;
                if (r.Uses.Count != 1 || r.IsGraphOutput || div.Input(1) is not { } divisor || !IsScalarOne(div.Input(0))) continue;
                fused[mul] = (i, divisor);
                break;
            }
        }
        return fused;
    }

    /// <summary>A one-element constant equal to 1 (float, float16, double, int32 or int64), as ORT's rule requires.</summary>
    private static bool IsScalarOne(Value? v)
    {
        var t = v?.Initializer ?? (v?.Producer is { OpType: "Constant" } c ? c.GetAttribute("value")?.AsTensor : null);
        if (v?.Producer is { OpType: "Constant" } cf && cf.GetAttribute("value_float") is { } vf) return vf.AsFloat == 1f;
        if (v?.Producer is { OpType: "Constant" } ci && ci.GetAttribute("value_int") is { } vi) return vi.AsInt == 1;
        if (t is null || t.ElementCount != 1 || t.Data is ProtoTensorData { HasSegment: true }) return false;
        using var b = t.Data.Open();
        var s = b.Span;
        return t.DataType switch
        {
            DataType.Float => BitConverter.ToSingle(s) == 1f,
            DataType.Float16 => (float)BitConverter.ToHalf(s) == 1f,
            DataType.Double => BitConverter.ToDouble(s) == 1.0,
            DataType.Int32 => BitConverter.ToInt32(s) == 1,
            DataType.Int64 => BitConverter.ToInt64(s) == 1,
            _ => false,
        };
    }

    public IReadOnlyList<ConstTensor>? Evaluate(ConstantCone cone, IReadOnlyList<Value> wanted, Model model, out string? whyNot)
    {
        if (!CanEvaluate(cone, out whyNot)) return null;
        var values = new Dictionary<Value, ConstTensor>();
        var pending = new Dictionary<Value, int>();
        var keep = new HashSet<Value>(wanted);
        try
        {
            var fused = FusedDivisions(cone);
            foreach (var n in cone.Nodes)
                foreach (var v in n.Inputs)
                    if (v is not null) pending[v] = pending.GetValueOrDefault(v) + 1;
            // A fused Mul reads the Div's divisor itself: keep it until the Mul has run.
            foreach (var (mul, (_, divisor)) in fused) pending[divisor] = pending.GetValueOrDefault(divisor) + 1;
            foreach (var leaf in cone.Leaves)
            {
                var t = leaf.Initializer!;
                var bytes = t.Data.Open();
                values[leaf] = ConstTensor.Borrow(t.DataType, t.Dims, bytes.Memory, bytes);
            }
            foreach (var n in cone.Nodes)
            {
                var inputs = n.Inputs.Select(v => v is null ? null : values[v]).ToArray();
                // An input this node reads last (once, not asked for) may lend its buffer to the result.
                var consumable = n.Inputs.Select(v => v is not null && pending[v] == 1 && !keep.Contains(v)).ToArray();
                ConstTensor?[] outputs;
                try
                {
                    outputs = fused.TryGetValue(n, out var f)
                        ? [NativeOps.Divide(inputs[1 - f.ReciprocalInput]!, values[f.Divisor], consumable[1 - f.ReciprocalInput])]
                        : NativeOps.Run(n, inputs, consumable);
                }
                catch (ConstantEvaluationException e) when (!e.Undefined) { whyNot = $"{n.Describe()}: {e.Message}"; return null; }
                catch (ConstantEvaluationException e) { throw new ConstantEvaluationException($"{n.Describe()}: {e.Message}", undefined: true); }
                // A node may declare more outputs than its operator has (a malformed model): not evaluable.
                if (n.Outputs.Skip(outputs.Length).Any(o => o is not null))
                {
                    foreach (var t in outputs) t?.Dispose();
                    whyNot = $"{n.Describe()} declares {n.Outputs.Count} outputs; {n.OpType} has {outputs.Length}";
                    return null;
                }
                for (int i = 0; i < outputs.Length; i++)
                {
                    var o = i < n.Outputs.Count ? n.Outputs[i] : null;
                    if (o is null) { outputs[i]?.Dispose(); continue; }
                    values[o] = outputs[i] ?? throw new ConstantEvaluationException($"{n.Describe()} computed no output {i}");
                }
                // Free what no later node of the cone reads (and nobody asked for).
                var read = n.Inputs.OfType<Value>().ToList();
                if (fused.TryGetValue(n, out var fd)) read.Add(fd.Divisor);
                foreach (var v in read)
                    if (--pending[v] == 0 && !keep.Contains(v) && values.Remove(v, out var dead)) dead.Dispose();
            }
            var result = new List<ConstTensor>();
            foreach (var w in wanted)
            {
                if (!values.Remove(w, out var t)) throw new ConstantEvaluationException($"'{w.Name}' is not computed by the cone");
                result.Add(t);
            }
            whyNot = null;
            return result;
        }
        finally
        {
            foreach (var t in values.Values) t.Dispose();
        }
    }
}
