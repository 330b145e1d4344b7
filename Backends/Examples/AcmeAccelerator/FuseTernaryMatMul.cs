using Ternion.IR;
using Ternion.Passes;
using Ternion.Passes.Rewriting;
using Ternion.Passes.Ternary;

namespace Acme.Npu;

/// <summary>
/// MatMul(X, TernaryDecode(P, s)) -> com.acme::TernaryMatMul(X, P, s): the NPU multiplies straight
/// from packed weights, so the decoded matrix never exists. A TernaryDecode that other nodes still
/// read stays for them. Adds the op's reference body the first time the rule fires.
/// </summary>
public sealed class FuseTernaryMatMul : RewritePass
{
    public const long MinOpset = 15;

    public static readonly RewriteRule Rule = new()
    {
        Name = "FuseTernaryMatMul",
        Pattern = Pattern.Op("MatMul",
            Pattern.Any("X"),
            Pattern.Op(TernaryDecodeOp.Domain, TernaryDecodeOp.OpType, Pattern.Any("P"), Pattern.Any("s")).As("decode")),
        Condition = WhyNot,
        Replacement = (m, b) =>
        {
            var decode = m.Node("decode");
            var layout = TernaryDecodeOp.Layout(decode);
            return [b.Op(TernaryMatMulOp.Domain, TernaryMatMulOp.OpType, [m["X"], m["P"], m["s"]],
                [Attribute.Int("K", layout.K), Attribute.Int("N", layout.M), Attribute.Int("axis", layout.Axis), Attribute.Int("block_size", layout.BlockSize)],
                name: m.Root.Name)];
        },
        Imports = [new OpsetId(TernaryMatMulOp.Domain, TernaryMatMulOp.Version)],
    };

    public override IReadOnlyList<RewriteRule> Rules => [Rule];

    /// <summary>What the NPU cannot take, in words a model author can act on.</summary>
    private static string? WhyNot(Match m)
    {
        var layout = TernaryDecodeOp.Layout(m.Node("decode"));
        if (layout.Rank != 2) return $"the weight is rank {layout.Rank}; the NPU multiplies by [K, N] matrices only";
        if (layout.Axis != 0) return $"the weight is packed along axis {layout.Axis}, not K (it is also read by a transposed Gemm)";
        if (!m["P"].IsInitializer) return $"the packed weight '{m["P"].Name}' is not a constant; the NPU keeps weights in its own memory";
        if (m["s"].Initializer is not { DataType: DataType.Float or DataType.Float16 })
            return $"the scale '{m["s"].Name}' is not a float32 or float16 constant";
        long opset = m.Model.GetOpsetVersion("") ?? 0;
        if (opset < MinOpset) return $"the model's default-domain opset is {opset}; TernaryMatMul's reference body needs {MinOpset}";
        return null;
    }

    protected override int AfterRewrite(Model model, RewriteResult result, PassContext context)
    {
        if (result.Total == 0 || model.FindFunction(TernaryMatMulOp.Domain, TernaryMatMulOp.OpType) is not null) return 0;
        model.Functions.Add(TernaryMatMulOp.Body(model.GetOpsetVersion("")!.Value));
        if ((model.IrVersion ?? 0) < 8) model.IrVersion = 8; // model-local functions exist from IR version 8 on
        return 1;
    }
}
