using System.Text.RegularExpressions;
using Ternion.Backends.Verification;
using Ternion.IR;
using Ternion.IR.Serialization;
using Ternion.SampleGen;
using Xunit.Abstractions;

namespace Ternion.Sample.Tests;

/// <summary>The committed model.onnx has the structure the compiler's tests rely on.</summary>
public class StructureTests(ITestOutputHelper output)
{
    private static readonly Lazy<Model> Sample = new(() => ModelSerializer.Load(SampleFolder.Model));
    private static readonly Lazy<Model> Reference = new(() => ModelSerializer.Load(SampleFolder.Reference));

    [Fact]
    public void HeaderInputsAndOutputsAreAsDocumented()
    {
        var m = Sample.Value;
        Assert.True(m.IrVersion is > 0 and <= 13, $"ir_version {m.IrVersion}");
        Assert.InRange(m.GetOpsetVersion("") ?? 0, 1, 26);
        Assert.Equal(1, m.GetOpsetVersion("ai.onnx.preview"));

        var input = Assert.Single(m.Graph.Inputs);
        Assert.Equal("input_ids", input.Name);
        Assert.Equal(DataType.Int64, input.Type!.ElemType);
        Assert.Equal([Dim.Of(1), Dim.Symbol("seq")], input.Type.Shape!.Dims);

        var logits = Assert.Single(m.Graph.Outputs);
        Assert.Equal("logits", logits.Name);
        Assert.Equal(DataType.Float, logits.Type!.ElemType);
        Assert.Equal([Dim.Of(1), Dim.Symbol("seq"), Dim.Of(256)], logits.Type.Shape!.Dims);

        long bytes = new FileInfo(SampleFolder.Model).Length;
        output.WriteLine($"model.onnx: {bytes:N0} bytes, {m.Graph.Nodes.Count} nodes, {m.Graph.Initializers.Count} initializers");
        Assert.InRange(bytes, 1L << 20, 8L << 20);
    }

    [Fact]
    public void FourteenTernaryWeightsWithTheIntendedScaleKinds()
    {
        var operands = MatMulWeights(Sample.Value);
        var profiles = operands.ToDictionary(v => v.Name, v => Profile(v.Initializer!));
        foreach (var (name, p) in profiles)
            output.WriteLine($"{name,-40} {p.Class,-18} scales {p.DistinctScales,4}  zeros {p.ZeroFraction:P1}");

        var ternary = profiles.Where(p => p.Value.Class is WeightClass.PerTensorTernary or WeightClass.PerChannelTernary).ToList();
        Assert.Equal(14, ternary.Count);
        var perTensor = new Regex(@"^layers\.[01]\.self_attn\.[qkvo]_proj\.weight$");
        var perChannel = new Regex(@"^layers\.[01]\.mlp\.(gate|up|down)_proj\.weight$");
        Assert.Equal(8, ternary.Count(p => perTensor.IsMatch(p.Key) && p.Value.Class == WeightClass.PerTensorTernary));
        Assert.Equal(6, ternary.Count(p => perChannel.IsMatch(p.Key) && p.Value.Class == WeightClass.PerChannelTernary));
        foreach (var (name, p) in ternary)
        {
            Assert.True(p.ZeroFraction is > 0.2 and < 0.45, $"{name}: {p.ZeroFraction:P1} zeros, expected about a third");
            Assert.True(p.BothSigns, $"{name}: only one sign");
            if (p.Class == WeightClass.PerChannelTernary)
            {
                // Per-channel must really need per-channel scales: nearly every column has its own.
                var dims = operands.First(v => v.Name == name).Initializer!.Dims;
                Assert.True(p.DistinctScales > dims[1] * 9 / 10, $"{name}: only {p.DistinctScales} distinct column scales");
            }
            else Assert.True(p.Scale > 0);
        }

        // Embedding table and LM head: large, dense random floats that must not look ternary.
        var dense = Sample.Value.Graph.Initializers.Where(v => v.Name is "embed_tokens.weight" or "lm_head.weight").ToList();
        Assert.Equal(2, dense.Count);
        Assert.All(dense, v => Assert.Equal(WeightClass.Dense, Profile(v.Initializer!).Class));
    }

    [Fact]
    public void ExactlyOneDecoyThatIsTernaryExceptForHalfAScale()
    {
        var decoys = Sample.Value.Graph.Initializers
            .Where(v => v.Initializer!.DataType == DataType.Float && v.Initializer.Dims.Length == 2 && v.Initializer.ElementCount >= 1024)
            .Select(v => (Value: v, Profile: Profile(v.Initializer!)))
            .Where(p => p.Profile.Class == WeightClass.TernaryButOne).ToList();
        var (value, profile) = Assert.Single(decoys);
        output.WriteLine($"decoy {value.Name}: scale {profile.Scale:R}, element {profile.OddIndex} = {profile.OddValue:R}, {profile.ZeroFraction:P1} zeros");
        Assert.Equal(profile.Scale / 2, profile.OddValue);
        Assert.True(profile.ZeroFraction is > 0.2 and < 0.45);
        // It is really used: a MatMul weight whose result is added to the residual stream.
        var use = Assert.Single(value.Uses);
        Assert.Equal("MatMul", use.Node.OpType);
        Assert.Equal(1, use.InputIndex);
        Assert.Contains(use.Node.Output().Uses, u => u.Node.OpType == "Add");
    }

    [Fact]
    public void SnappingTheDecoyToATritChangesTheOutputBeyondTolerance()
    {
        // If the decoy did not matter, a compiler that wrongly packed it would still pass `verify`.
        var w = SampleWeights.Generate();
        var expected = ReadExpected();
        foreach (float snapped in new[] { w.DecoyScale, 0f })
        {
            var logits = ReferenceForward.Run(w.WithDecoyValue(snapped), w.Tokens);
            var cmp = Comparison.Compare("logits", expected, RunValue.FromArray(DataType.Float, expected.Dims, logits), 1e-4, 1e-5);
            output.WriteLine($"decoy element -> {snapped:R}: {cmp}");
            Assert.False(cmp.Ok, $"snapping the decoy to {snapped} leaves the logits within tolerance");
        }
    }

    [Fact]
    public void DroppingTheSoftCapChangesTheOutputBeyondTolerance()
    {
        // Scores must reach the range where c*tanh(s/c) is not the identity, or the modifier is untested.
        var w = SampleWeights.Generate();
        var expected = ReadExpected();
        var logits = ReferenceForward.Run(w, w.Tokens, new ForwardOptions { SoftCap = false });
        var cmp = Comparison.Compare("logits", expected, RunValue.FromArray(DataType.Float, expected.Dims, logits), 1e-4, 1e-5);
        output.WriteLine($"without soft-cap: {cmp}");
        Assert.False(cmp.Ok, "the soft-cap does not change the logits measurably");
    }

    [Fact]
    public void AttentionIsElementWiseFlexAttentionWithCausalMaskAndSoftCap()
    {
        var m = Sample.Value;
        var flex = m.AllNodes().Where(n => n.OpType == "FlexAttention").ToList();
        Assert.Equal(2, flex.Count);
        foreach (var n in flex)
        {
            Assert.Same(m.Graph, n.Graph);
            Assert.Equal("ai.onnx.preview", n.DomainName);
            Assert.Equal(3, n.Inputs.Count);
            Assert.Equal(1, n.GetInt("enable_gqa", 0));
            Assert.Null(n.GetAttribute("prob_mod"));

            var score = n.GetAttribute("score_mod")?.AsGraph ?? throw new Xunit.Sdk.XunitException($"{n}: no score_mod graph");
            AssertScalarInputs(score, [DataType.Float, DataType.Int64, DataType.Int64, DataType.Int64, DataType.Int64]);
            var sout = Assert.Single(score.Outputs);
            Assert.Equal(DataType.Float, sout.Type!.ElemType);
            Assert.Equal(0, sout.Type.Shape!.Rank);
            Assert.Equal(["Div", "Tanh", "Mul"], score.Nodes.Select(x => x.OpType));
            // The cap c is captured from the main graph: a scalar initializer equal to 50.
            var captured = score.Nodes.SelectMany(x => x.Inputs).Where(v => v is not null && !ReferenceEquals(v.Graph, score)).Distinct().ToList();
            var cap = Assert.Single(captured)!;
            Assert.Same(m.Graph, cap.Graph);
            Assert.Equal([50f], cap.Initializer!.ToArray<float>());
            Assert.Same(score.Inputs[0], score.Nodes.First().Inputs[0]);

            var mask = n.GetAttribute("mask_mod")?.AsGraph ?? throw new Xunit.Sdk.XunitException($"{n}: no mask_mod graph");
            AssertScalarInputs(mask, [DataType.Int64, DataType.Int64, DataType.Int64, DataType.Int64]);
            var ge = Assert.Single(mask.Nodes);
            Assert.Equal("GreaterOrEqual", ge.OpType);
            // Causal: q_idx (input 2) >= kv_idx (input 3).
            Assert.Same(mask.Inputs[2], ge.Inputs[0]);
            Assert.Same(mask.Inputs[3], ge.Inputs[1]);
            var mout = Assert.Single(mask.Outputs);
            Assert.Same(ge.Output(), mout);
            Assert.Equal(DataType.Bool, mout.Type!.ElemType);
            Assert.Equal(0, mout.Type.Shape!.Rank);
        }
    }

    [Fact]
    public void ReferenceModelIsTheSameModelWithoutFlexAttention()
    {
        var m = Sample.Value;
        var r = Reference.Value;
        Assert.DoesNotContain(r.AllNodes(), n => n.OpType == "FlexAttention" || n.DomainName.Length > 0);
        Assert.Null(r.GetOpsetVersion("ai.onnx.preview"));
        Assert.Equal(m.GetOpsetVersion(""), r.GetOpsetVersion(""));
        Assert.Equal(m.Graph.Inputs.Select(v => (v.Name, v.Type)), r.Graph.Inputs.Select(v => (v.Name, v.Type)));
        Assert.Equal(m.Graph.Outputs.Select(v => (v.Name, v.Type)), r.Graph.Outputs.Select(v => (v.Name, v.Type)));
        // The oracle must compute with the very same weights.
        foreach (var v in m.Graph.Initializers)
        {
            var twin = r.Graph.LookupLocal(v.Name);
            Assert.True(twin?.Initializer is not null, $"reference.onnx lacks initializer '{v.Name}'");
            Assert.Equal(v.Initializer!.Dims, twin!.Initializer!.Dims);
            using var a = v.Initializer.Data.Open();
            using var b = twin.Initializer.Data.Open();
            Assert.True(a.Span.SequenceEqual(b.Span), $"initializer '{v.Name}' differs between model.onnx and reference.onnx");
        }
    }

    private static void AssertScalarInputs(Graph g, DataType[] types)
    {
        Assert.Equal(types.Length, g.Inputs.Count);
        for (int i = 0; i < types.Length; i++)
        {
            Assert.Equal(types[i], g.Inputs[i].Type!.ElemType);
            Assert.Equal(0, g.Inputs[i].Type!.Shape!.Rank);
        }
    }

    /// <summary>Initializers used as the B operand of a MatMul.</summary>
    private static List<Value> MatMulWeights(Model m) =>
        m.Graph.Nodes.Where(n => n.OpType == "MatMul" && n.Input(1)?.Initializer is not null)
            .Select(n => n.Input(1)!).Distinct().ToList();

    private static WeightProfile Profile(Tensor t)
    {
        Assert.Equal(DataType.Float, t.DataType);
        Assert.Equal(2, t.Dims.Length);
        return WeightClassifier.Classify(t.ToArray<float>(), (int)t.Dims[0], (int)t.Dims[1]);
    }

    private static RunValue ReadExpected() => TestDataReader.Read(SampleFolder.Output, null);
}
