using Ternion.IR;
using Ternion.Passes.Constants;

namespace Ternion.Passes.Ternary.Sources;

/// <summary>
/// The weight operands a compile would examine, counted by form from the graph's structure alone
/// (types, shapes and operators; no weight byte is read), for `ternion inspect`. Whether each is
/// ternary only the values tell.
/// </summary>
public static class WeightCandidates
{
    /// <summary>Already TTF1 (a TernaryDecode feeds the operand).</summary>
    public const string Packed = "ttf1";
    /// <summary>Constant, but computed by something that cannot be evaluated at compile time.</summary>
    public const string NotEvaluable = "not-evaluable";

    public static SortedDictionary<string, int> ByForm(Model model)
    {
        var counts = new SortedDictionary<string, int>(StringComparer.Ordinal);
        void Add(string form) => counts[form] = counts.GetValueOrDefault(form) + 1;
        var analysis = new ConstantAnalysis();
        var seen = new HashSet<Value>();
        foreach (var g in model.AllGraphs())
            foreach (var n in g.Nodes)
            {
                if (n.OpType == "MatMulNBits" && n.DomainName == MatMulNBitsSource.Domain) { Add(WeightSources.MatMulNBits); continue; }
                if (n.DomainName.Length != 0 || n.OpType is not ("MatMul" or "Gemm") || n.Input(1) is not { } b || !seen.Add(b)) continue;
                if (b.Initializer is { } t)
                {
                    if (!b.IsGraphInput && DataTypes.IsFloatingPoint(t.DataType)) Add(WeightSources.Initializer);
                    continue;
                }
                if (b.Producer is { } p && TernaryDecodeOp.Is(p)) { Add(Packed); continue; }
                var (state, _) = analysis.Classify(b);
                if (state == Constness.Refused) { Add(NotEvaluable); continue; }
                if (state != Constness.Constant) continue;
                if (analysis.Cone(b, out _) is { } cone) Add(ConeSource.Kind(cone));
                else Add(NotEvaluable);
            }
        return counts;
    }
}
