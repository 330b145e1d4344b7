using Ternion.IR;
using Ternion.IR.Serialization;
using Xunit.Abstractions;
using static Ternion.Passes.Tests.ReferenceAttention;

namespace Ternion.Passes.Tests;

/// <summary>
/// FlexAttention wherever a graph can be: in an If branch, in a model-local function (untyped
/// parameters, no initializers), and what happens to the ai.onnx.preview opset import and the
/// default-domain opset around it.
/// </summary>
public class PlacementTests(ITestOutputHelper output)
{
    private const DataType F = DataType.Float, I64 = DataType.Int64, Bool = DataType.Bool;

    private static Graph CausalMask(FlexModel fm)
    {
        var (m, _, _, q, k) = fm.MaskBody("causal");
        m.Output(m.Op("GreaterOrEqual", q, k), Bool);
        return m.Graph;
    }

    /// <summary>One branch attends causally, the other plainly; both are lowered inside the branches.</summary>
    [Fact]
    public void NodesInsideIfBranchesAreLowered()
    {
        var p = new Problem(1, 2, 2, 5, 5, 8, 8);
        var fm = new FlexModel(F, p.B, p.Hq, p.Hkv, p.L, p.S, p.E, p.Ev);
        var cond = fm.Main.Input("causal", Bool);
        GraphBuilder Branch(string name, params Attribute[] attrs)
        {
            var b = fm.Body(name);
            var n = b.Graph.Append(new Node("ai.onnx.preview", "FlexAttention", [fm.Q, fm.K, fm.V], 1, attrs, $"attn_{name}"));
            b.Output(n.Output(), F, p.B, p.Hq, p.L, p.Ev);
            return b;
        }
        var y = fm.Main.Op("If", [cond],
            Attribute.FromGraph("then_branch", Branch("masked", Attribute.FromGraph("mask_mod", CausalMask(fm))).Graph),
            Attribute.FromGraph("else_branch", Branch("plain").Graph));
        fm.Main.Output(y, F);
        fm.Main.Graph.Rename(y, "Y");
        var report = new FlexCheck(output).Run("inside If", fm, p, (q, k, v) => Compute(p, q, k, v, mask: (_, _, i, j) => i >= j),
            extraInputs: new() { ["causal"] = Backends.Verification.RunValue.FromArray(Bool, [], new byte[] { 1 }) });
        Assert.Equal(["attn_masked", "attn_plain"], report.FlexAttention.Select(e => e.Node).Order().ToArray());
    }

    /// <summary>
    /// In a function the parameters are untyped (T comes from the call sites), shapes are unknown (so
    /// sizes are read at run time) and there are no initializers (constants become Constant nodes).
    /// </summary>
    [Fact]
    public void NodesInsideAFunctionBodyAreLoweredWithConstantNodes()
    {
        var p = new Problem(2, 4, 2, 3, 6, 8, 5);
        var fm = new FlexModel(F, p.B, p.Hq, p.Hkv, p.L, p.S, p.E, p.Ev);
        var body = new GraphBuilder(new Graph(fm.Model.Names) { Name = "attend_body" });
        var fq = body.Graph.AddInput("fq", null);
        var fk = body.Graph.AddInput("fk", null);
        var fv = body.Graph.AddInput("fv", null);
        var (sg, s, _, h, q, k) = fm.ScoreBody("bias");
        var hb = new[] { 0.5f, -0.5f, 1f, 0f };
        sg.Output(sg.Op("Add", s, sg.Op("Add", sg.Op("Gather", sg.Init("HB", F, [4], hb), h), sg.Cast(sg.Op("Sub", q, k), F))), F);
        var attn = body.Graph.Append(new Node("ai.onnx.preview", "FlexAttention", [fq, fk, fv], 1,
            [Attribute.FromGraph("score_mod", sg.Graph), Attribute.FromGraph("mask_mod", CausalMask(fm)), Attribute.Int("enable_gqa", 1)], "attn_fn"));
        body.Graph.Outputs.Add(attn.Output());
        var f = new Function("local", "Attend", body.Graph);
        f.OpsetImports.Add(new OpsetId("", 26));
        f.OpsetImports.Add(new OpsetId("ai.onnx.preview", 1));
        fm.Model.Functions.Add(f);
        fm.Model.OpsetImports.Add(new OpsetId("local", 1));
        var call = fm.Main.Graph.Append(new Node("local", "Attend", [fm.Q, fm.K, fm.V], [new Value("Y")]));
        fm.Main.Output(call.Output(), F);

        // Bottom-right alignment is not asked for: the mask compares raw positions (L=3, S=6).
        new FlexCheck(output).Run("inside a function", fm, p, (qq, kk, vv) => Compute(p, qq, kk, vv,
            scoreMod: (x, _, hh, i, j) => x + hb[hh] + (i - j), mask: (_, _, i, j) => i >= j));

        var lowered = FlexCompile.Compile(ModelSerializer.FromBytes(ModelSerializer.ToBytes(fm.Model)));
        var fn = lowered.Functions.Single();
        Assert.DoesNotContain(fn.OpsetImports, o => o.DomainName == "ai.onnx.preview");
        Assert.Empty(fn.Body.Initializers);
        Assert.Contains(fn.Body.Nodes, n => n.OpType == "Constant");
        Assert.Contains(fn.Body.Nodes, n => n.OpType == "Range"); // sizes unknown until run time
    }

    [Fact]
    public void ThePreviewImportStaysWhileANodeStillUsesTheDomain()
    {
        var fm = new FlexModel(F, 1, 2, 2, 4, 4, 8, 8);
        fm.Attend("attn0");
        var other = fm.Main.Graph.Append(new Node("ai.onnx.preview", "SomethingElse", [fm.Q], 1));
        fm.Main.Output(other.Output(), F);
        var compiled = FlexCompile.Compile(fm.Model);
        Assert.False(FlexCompile.HasFlexNode(compiled));
        Assert.True(FlexCompile.ImportsPreview(compiled));
    }

    [Fact]
    public void AModelWithoutFlexAttentionIsLeftExactlyAsItWas()
    {
        var model = ModelSerializer.Load(Path.Combine(TestSupport.Paths.VendoredConformance, "flexattention-elementwise", "test_flexattention_mask_mod_causal_expanded_ver26", "model.onnx"));
        var before = ModelSerializer.ToBytes(model);
        var context = FlexCompile.Context();
        FlexCompile.Compile(model, context);
        Assert.Equal(before, ModelSerializer.ToBytes(model)); // the unused preview import included
        Assert.Empty(context.Report.FlexAttention);
    }

    [Fact]
    public void ANativeTargetKeepsTensorFormNodesUntouched()
    {
        var model = ModelSerializer.Load(Path.Combine(TestSupport.Paths.VendoredConformance, "onnx-node", "test_flexattention_causal_mask", "model.onnx"));
        var before = ModelSerializer.ToBytes(model);
        var context = FlexCompile.Context(native: true);
        FlexCompile.Compile(model, context);
        Assert.Equal(before, ModelSerializer.ToBytes(model));
        Assert.Equal(("tensor", "kept-native"), (context.Report.FlexAttention.Single().Form, context.Report.FlexAttention.Single().Result));
    }

    /// <summary>An opset-8 model has no Where; the lowering raises the import to 9 (the least it needs, within the target's limit) and the result still runs right.</summary>
    [Fact]
    public void AnOldOpsetIsRaisedOnlyAsFarAsTheLoweringNeeds()
    {
        var p = new Problem(1, 2, 2, 4, 4, 8, 8);
        var fm = new FlexModel(F, p.B, p.Hq, p.Hkv, p.L, p.S, p.E, p.Ev, opset: 8);
        var (m, _, _, q, k) = fm.MaskBody("causal_opset8");
        m.Output(m.Op("Not", m.Op("Less", m.Cast(q, F), m.Cast(k, F))), Bool); // Less takes floats only before opset 9
        fm.Attend("attn_old", Attribute.FromGraph("mask_mod", m.Graph));
        var check = new FlexCheck(output);
        check.Run("opset 8", fm, p, (qq, kk, vv) => Compute(p, qq, kk, vv, mask: (_, _, i, j) => i >= j));
        var lowered = FlexCompile.Compile(ModelSerializer.FromBytes(ModelSerializer.ToBytes(fm.Model)));
        Assert.Equal(9, lowered.GetOpsetVersion(""));

        var plain = new FlexModel(F, p.B, p.Hq, p.Hkv, p.L, p.S, p.E, p.Ev, opset: 8);
        plain.Attend("attn_plain");
        Assert.Equal(8, FlexCompile.Compile(plain.Model).GetOpsetVersion("")); // nothing there needs more
    }
}

/// <summary>The same model and options give byte-identical output (architecture habit: deterministic output).</summary>
public class DeterminismTests
{
    [Theory]
    [InlineData("onnx-node", "test_flexattention_relative_positional")]
    [InlineData("flexattention-elementwise", "test_flexattention_mask_mod_causal")]
    [InlineData("flexattention-elementwise", "test_flexattention_gqa")]
    public void CompilingTwiceGivesTheSameBytes(string corpus, string test)
    {
        var path = Path.Combine(TestSupport.Paths.VendoredConformance, corpus, test, "model.onnx");
        byte[] Once(bool native) => ModelSerializer.ToBytes(FlexCompile.Compile(ModelSerializer.Load(path), FlexCompile.Context(native)));
        Assert.Equal(Once(false), Once(false));
        Assert.Equal(Once(true), Once(true));
    }
}
