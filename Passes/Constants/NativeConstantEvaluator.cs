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

    public IReadOnlyList<ConstTensor>? Evaluate(ConstantCone cone, IReadOnlyList<Value> wanted, Model model, out string? whyNot)
    {
        if (!CanEvaluate(cone, out whyNot)) return null;
        var values = new Dictionary<Value, ConstTensor>();
        var pending = new Dictionary<Value, int>();
        var keep = new HashSet<Value>(wanted);
        try
        {
            foreach (var n in cone.Nodes)
                foreach (var v in n.Inputs)
                    if (v is not null) pending[v] = pending.GetValueOrDefault(v) + 1;
            foreach (var leaf in cone.Leaves)
            {
                var t = leaf.Initializer!;
                var bytes = t.Data.Open();
                values[leaf] = ConstTensor.Borrow(t.DataType, t.Dims, bytes.Memory, bytes);
            }
            foreach (var n in cone.Nodes)
            {
                var inputs = n.Inputs.Select(v => v is null ? null : values[v]).ToArray();
                ConstTensor?[] outputs;
                try { outputs = NativeOps.Run(n, inputs); }
                catch (ConstantEvaluationException e) when (!e.Undefined) { whyNot = $"{n.Describe()}: {e.Message}"; return null; }
                catch (ConstantEvaluationException e) { throw new ConstantEvaluationException($"{n.Describe()}: {e.Message}", undefined: true); }
                for (int i = 0; i < n.Outputs.Count; i++)
                {
                    var o = n.Outputs[i];
                    if (o is null) { outputs[i]?.Dispose(); continue; }
                    values[o] = outputs[i] ?? throw new ConstantEvaluationException($"{n.Describe()} computed no output {i}");
                }
                // Free what no later node of the cone reads (and nobody asked for).
                foreach (var v in n.Inputs)
                {
                    if (v is null) continue;
                    if (--pending[v] == 0 && !keep.Contains(v) && values.Remove(v, out var dead)) dead.Dispose();
                }
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
