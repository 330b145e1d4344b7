using Ternion.IR;

namespace Ternion.Passes.Constants;

/// <summary>
/// Computes the values of a constant cone. Implementations must give exactly what the runtime the
/// model is verified on computes from the original graph (ONNX Runtime), bit for bit: a weight is
/// packed from these values, and the `folded` target promises the original's outputs exactly.
/// </summary>
public interface IConstantEvaluator
{
    /// <summary>Short name for logs and reports ("native", "onnxruntime").</summary>
    string Name { get; }

    /// <summary>
    /// The values <paramref name="wanted"/> (each computed by a node of the cone), in that order, or
    /// null with <paramref name="whyNot"/> when this evaluator cannot compute them. The caller disposes
    /// every returned tensor.
    /// </summary>
    IReadOnlyList<ConstTensor>? Evaluate(ConstantCone cone, IReadOnlyList<Value> wanted, Model model, out string? whyNot);
}

/// <summary>Tries evaluators in order and takes the first that can compute the cone.</summary>
public sealed class ChainedEvaluator(params IConstantEvaluator[] evaluators) : IConstantEvaluator
{
    public string Name => string.Join("+", evaluators.Select(e => e.Name));
    public IReadOnlyList<IConstantEvaluator> Evaluators => evaluators;

    public IReadOnlyList<ConstTensor>? Evaluate(ConstantCone cone, IReadOnlyList<Value> wanted, Model model, out string? whyNot)
    {
        var reasons = new List<string>();
        foreach (var e in evaluators)
        {
            var r = e.Evaluate(cone, wanted, model, out var why);
            if (r is not null) { whyNot = null; return r; }
            reasons.Add($"{e.Name}: {why}");
        }
        whyNot = string.Join("; ", reasons);
        return null;
    }

}
