using Ternion.Backends.Verification;
using Ternion.IR;
using Ternion.IR.Serialization;
using Ternion.TestSupport;
using Xunit.Abstractions;

namespace Ternion.Passes.Tests;

/// <summary>
/// Every FlexAttention model of the conformance data compiles through the pass and ONNX Runtime on
/// the result gives the expected outputs of test_data_set_0, with ONNX's own tolerances (rtol 1e-3,
/// atol 1e-7). ORT cannot load any of these models as they are (ai.onnx.preview is not
/// registered), so a match means the lowering computed the numbers. All of them where the shared
/// corpus is; on any clone the vendored handful in testdata/conformance.
/// </summary>
public class ConformanceTests(ITestOutputHelper output)
{
    private static IEnumerable<string> Cases(string conformanceRoot, string corpus) =>
        Directory.GetDirectories(Path.Combine(conformanceRoot, corpus), "test_flexattention*").Order(StringComparer.Ordinal);

    [SharedDataTheory("conformance/onnx-node", "conformance/flexattention-elementwise")]
    [InlineData("onnx-node", "tensor", 11)]
    [InlineData("flexattention-elementwise", "element-wise", 8)]
    public void EveryFlexAttentionModelLowersAndMatchesItsExpectedOutputs(string corpus, string form, int expectedNodes) =>
        LowerAndMatch(Cases(Paths.Conformance, corpus), corpus, form, expectedNodes);

    [Theory]
    [InlineData("onnx-node", "tensor", 6)]
    [InlineData("flexattention-elementwise", "element-wise", 3)]
    public void EveryVendoredFlexAttentionModelLowersAndMatchesItsExpectedOutputs(string corpus, string form, int expectedNodes) =>
        LowerAndMatch(Cases(Paths.VendoredConformance, corpus), "vendored " + corpus, form, expectedNodes);

    private void LowerAndMatch(IEnumerable<string> cases, string corpus, string form, int expectedNodes)
    {
        int matched = 0, skipped = 0, attentionOps = 0;
        var failures = new List<string>();
        var forms = new Dictionary<string, int>();
        foreach (var dir in cases)
        {
            var name = Path.GetFileName(dir);
            var model = ModelSerializer.Load(Path.Combine(dir, "model.onnx"));
            if (!FlexCompile.HasFlexNode(model))
            {
                // The *_expanded twins hold the reference body (standard ops, or a Loop), no FlexAttention node.
                Assert.Contains("_expanded", name);
                skipped++;
                continue;
            }
            // Once as compile does by default (exactly-causal attention may become the Attention op),
            // once with MatMul/Softmax ops throughout: both must match the expected outputs.
            foreach (bool attentionOp in new[] { true, false })
            {
                string label = attentionOp ? name : $"{name} (--no-attention-op)";
                try
                {
                    var context = FlexCompile.Context(attentionOp: attentionOp);
                    var compiled = FlexCompile.Compile(ModelSerializer.Load(Path.Combine(dir, "model.onnx")), context);
                    Assert.False(FlexCompile.HasFlexNode(compiled));
                    Assert.False(FlexCompile.ImportsPreview(compiled), $"{label}: ai.onnx.preview is still imported");
                    foreach (var e in context.Report.FlexAttention)
                    {
                        if (attentionOp) forms[e.Form] = forms.GetValueOrDefault(e.Form) + 1;
                        Assert.Contains(e.Result, attentionOp ? new[] { "lowered", "attention-op" } : new[] { "lowered" });
                        // The report says why: the Attention op only for exactly causal attention, else what stood in the way.
                        if (e.Result == "attention-op") Assert.Contains("is_causal=1", e.Reason);
                        else Assert.StartsWith("MatMul/Softmax ops: ", e.Reason);
                        if (!attentionOp) Assert.Equal("MatMul/Softmax ops: --no-attention-op", e.Reason);
                        if (e.Result == "attention-op") attentionOps++;
                    }
                    if (Compare(label, compiled, dir) is { } problem) failures.Add(problem); else if (attentionOp) matched++;
                }
                catch (TernionException e) { failures.Add($"{label}: {e.Message}"); }
            }
        }
        output.WriteLine($"{corpus}: {matched} of {matched + failures.Count} FlexAttention models lowered and matched their expected outputs; " +
                         $"{skipped} expanded twins without a FlexAttention node skipped; forms reported: {string.Join(", ", forms.Select(p => $"{p.Key} {p.Value}"))}; " +
                         $"{attentionOps} exactly causal, emitted as the Attention op (each also matched when lowered to MatMul/Softmax)");
        Assert.True(failures.Count == 0, string.Join("\n", failures));
        Assert.Equal(expectedNodes, matched);
        if (form == "element-wise")
        {
            Assert.True(forms.GetValueOrDefault("element-wise") > 0);
            Assert.True(attentionOps > 0, "test_flexattention_mask_mod_causal should have become the Attention op");
        }
    }

    /// <summary>
    /// For a target that runs FlexAttention itself, element-wise nodes become tensor-form nodes. ORT
    /// cannot run those, so the check is two-step: the tensor-form result, lowered again for a
    /// portable target, must still give the expected outputs.
    /// </summary>
    [SharedDataFact("conformance/flexattention-elementwise")]
    public void ElementwiseModelsConvertedToTensorFormForANativeTargetKeepTheirMeaning() =>
        ConvertToTensorFormAndMatch(Paths.Conformance);

    [Fact]
    public void VendoredElementwiseModelsConvertedToTensorFormForANativeTargetKeepTheirMeaning() =>
        ConvertToTensorFormAndMatch(Paths.VendoredConformance);

    private void ConvertToTensorFormAndMatch(string conformanceRoot)
    {
        int converted = 0, checkedModels = 0;
        foreach (var dir in Cases(conformanceRoot, "flexattention-elementwise"))
        {
            var model = ModelSerializer.Load(Path.Combine(dir, "model.onnx"));
            if (!FlexCompile.HasFlexNode(model)) continue;
            var native = FlexCompile.Context(native: true);
            var kept = FlexCompile.Compile(model, native);
            Assert.True(FlexCompile.HasFlexNode(kept));
            Assert.True(FlexCompile.ImportsPreview(kept));
            foreach (var n in kept.AllNodes().Where(n => n.OpType == "FlexAttention"))
            {
                Assert.Null(n.GetAttribute("mask_mod"));
                Assert.Null(n.GetAttribute("enable_gqa"));
                Assert.All(n.Subgraphs, g => Assert.Single(g.Inputs));
            }
            converted += native.Report.FlexAttention.Count(e => e.Result == "converted-to-tensor-form");
            // Through the file format, as a native target would receive it.
            var reread = ModelSerializer.FromBytes(ModelSerializer.ToBytes(kept));
            var second = FlexCompile.Context();
            var lowered = FlexCompile.Compile(reread, second);
            Assert.All(second.Report.FlexAttention, e => Assert.Equal("tensor", e.Form));
            var problem = Compare(Path.GetFileName(dir), lowered, dir);
            Assert.True(problem is null, problem);
            checkedModels++;
        }
        output.WriteLine($"native target: {converted} element-wise nodes converted to the tensor form; {checkedModels} models still match after lowering that form");
        Assert.True(converted >= 2, "expected the element-wise models with modifiers or enable_gqa to be converted");
    }

    private static string? Compare(string name, Model compiled, string dir)
    {
        var data = Path.Combine(dir, "test_data_set_0");
        var inputs = ModelVerifier.ReadInputs(compiled, data);
        var outputs = FlexCompile.Run(compiled, inputs);
        var declared = compiled.Graph.Outputs.ToList();
        for (int i = 0; i < declared.Count; i++)
        {
            var expected = TestDataReader.Read(Path.Combine(data, $"output_{i}.pb"), declared[i].Type);
            var cmp = Comparison.Compare(declared[i].Name, expected, outputs[declared[i].Name], 1e-3, 1e-7);
            if (!cmp.Ok) return $"{name}: {cmp}";
        }
        return null;
    }
}
