using Google.Protobuf;
using Ternion.IR.Onnx;
using Ternion.Robustness.Tests.Harness;
using Ternion.TestSupport;
using Xunit.Abstractions;

namespace Ternion.Robustness.Tests;

/// <summary>
/// FlexAttention nodes with malformed modifier graphs, made from the sample's element-wise
/// FlexAttention (score_mod: soft cap; mask_mod: causal). `ternion compile` must refuse each with
/// exit code 2 and one line naming the file and the node: modifiers broken so that the loader
/// refuses them (names that mean nothing, cycles), and modifiers that load but that
/// LowerFlexAttention cannot lower.
/// </summary>
public class FlexAttentionModifierTests(ITestOutputHelper log) : IDisposable
{

    private readonly TempDir _dir = new("flexmod");
    public void Dispose() => _dir.Dispose();

    /// <summary>The sample with <paramref name="edit"/> applied to the first FlexAttention node.</summary>
    private string Sample(Action<NodeProto> edit)
    {
        var m = ModelProto.Parser.ParseFrom(File.ReadAllBytes(TruncationTests.SamplePath));
        var flex = m.Graph.Node.First(n => n.OpType == "FlexAttention" && n.Domain == "ai.onnx.preview");
        edit(flex);
        var path = _dir.File("flex.onnx");
        Protos.Write(m, path);
        return path;
    }

    private static GraphProto Modifier(NodeProto flex, string name) => flex.Attribute.Single(a => a.Name == name).G;

    private void AssertCompileRefuses(string model, params string[] fragments)
    {
        foreach (var target in new[] { "fallback", "native" })
        {
            var r = CliHarness.Run("compile", model, "-o", _dir.File("out.onnx"), "--target", target);
            log.WriteLine(r.ToString());
            Expect.Refused(r, "flex.onnx", fragments);
            Expect.FolderHolds(_dir.Path, "flex.onnx");
        }
    }

    [Fact]
    public void TheUnbrokenSampleCompiles()
    {
        // The edits below are the only difference from a model that compiles.
        var r = CliHarness.Run("compile", Sample(_ => { }), "-o", _dir.File("out.onnx"));
        Assert.True(r.ExitCode == 0, r.ToString());
    }

    // ---- refused by the loader: run now

    [Fact]
    public void ModifierReadingAnUndefinedName() =>
        AssertCompileRefuses(Sample(f => Modifier(f, "score_mod").Node[0].Input[1] = "no_such_value"), "'no_such_value'", "not defined");

    [Fact]
    public void ModifierReadingTheFlexAttentionOutput() =>
        // The modifier captures the node's own result from the outer scope: a cycle through the subgraph.
        AssertCompileRefuses(Sample(f => Modifier(f, "score_mod").Node[0].Input[1] = f.Output[0]), "cycle");

    [Fact]
    public void ModifierWithACycleInside() =>
        AssertCompileRefuses(Sample(f =>
        {
            var g = Modifier(f, "mask_mod");
            g.Node.Add(Protos.Node("Not", ["loop_b"], ["loop_a"]));
            g.Node.Add(Protos.Node("Not", ["loop_a"], ["loop_b"]));
        }), "cycle");

    [Fact]
    public void ModifierUsingAnUnimportedDomain() =>
        AssertCompileRefuses(Sample(f => Modifier(f, "mask_mod").Node[0].Domain = "com.example"), "com.example", "opset_import");

    // ---- loaded fine, refused by LowerFlexAttention

    [Fact]
    public void ScoreModWithTwoInputs() =>
        AssertCompileRefuses(Sample(f =>
        {
            var g = Modifier(f, "score_mod");
            // Keep the inputs the body reads (score) and one index; drop h, q_idx, kv_idx.
            while (g.Input.Count > 2) g.Input.RemoveAt(g.Input.Count - 1);
        }), "FlexAttention", "score_mod", "input");

    [Fact]
    public void MaskModWithThreeInputs() =>
        AssertCompileRefuses(Sample(f => Modifier(f, "mask_mod").Input.RemoveAt(1)), "FlexAttention", "mask_mod", "four");

    [Fact]
    public void MaskModReturningFloat() =>
        AssertCompileRefuses(Sample(f =>
        {
            var g = Modifier(f, "mask_mod");
            var outName = g.Output[0].Name;
            g.Node[0].Output[0] = outName + "_bool";
            g.Node.Add(Protos.Node("Cast", [outName + "_bool"], [outName]));
            g.Node[^1].Attribute.Add(ModelProtos.IntAttr("to", 1));
            g.Output[0] = ModelProtos.Typed(outName, 1);
        }), "FlexAttention", "mask_mod", "bool");

    [Fact]
    public void ScoreModWithTwoOutputs() =>
        AssertCompileRefuses(Sample(f =>
        {
            var g = Modifier(f, "score_mod");
            g.Output.Add(g.Output[0].Clone());
            g.Output[1].Name = g.Input[0].Name;
        }), "FlexAttention", "score_mod", "outputs");

    [Fact]
    public void ScoreModThatIsNotAGraph() =>
        AssertCompileRefuses(Sample(f =>
        {
            var a = f.Attribute.Single(x => x.Name == "score_mod");
            a.G = null;
            a.Type = AttributeProto.Types.AttributeType.Int;
            a.I = 1;
        }), "FlexAttention", "score_mod", "graph");

    [Fact]
    public void MaskModReturningAVector() =>
        AssertCompileRefuses(Sample(f =>
        {
            var g = Modifier(f, "mask_mod");
            g.Output[0] = ModelProtos.Typed(g.Output[0].Name, 9, 4);
        }), "FlexAttention", "mask_mod", "scalar");

    [Fact]
    public void ScoreModWithAnIntegerScore() =>
        AssertCompileRefuses(Sample(f =>
        {
            var g = Modifier(f, "score_mod");
            g.Input[0] = ModelProtos.Typed(g.Input[0].Name, 7);
        }), "FlexAttention", "score_mod", "int64");

    [Fact]
    public void ModifierOfThe_TensorForm_ShapeInAnElementWiseNode() =>
        // One [B,H,L,S] input: the tensor form's modifier, on a node whose mask_mod makes it element-wise.
        AssertCompileRefuses(Sample(f =>
        {
            var g = Modifier(f, "score_mod");
            while (g.Input.Count > 1) g.Input.RemoveAt(g.Input.Count - 1);
            g.Input[0] = ModelProtos.Typed(g.Input[0].Name, 1, 1, 4, 16, 16);
        }), "FlexAttention", "score_mod");

    [Fact]
    public void FuzzedModifiersNeverCrash()
    {
        // Wire-level mutations of the first node's modifier graphs, through compile: refused
        // cleanly or compiled, never an internal error.
        var bytes = File.ReadAllBytes(TruncationTests.SamplePath);
        var original = ModelProto.Parser.ParseFrom(bytes);
        var rng = new Random(11);
        for (int i = 0; i < 100; i++)
        {
            var m = original.Clone();
            var flex = m.Graph.Node.First(n => n.OpType == "FlexAttention");
            var attr = flex.Attribute.Where(a => a.G is not null).ElementAt(rng.Next(2));
            var g = attr.G.ToByteArray();
            var mutant = new Mutator(rng).Mutate(g, Wire.Parse(g, 0, g.Length));
            try { attr.G = GraphProto.Parser.ParseFrom(mutant); }
            catch (InvalidProtocolBufferException) { continue; }
            var path = _dir.File("flex.onnx");
            Protos.Write(m, path);
            var r = CliHarness.Run("compile", path, "-o", _dir.File("out.onnx"));
            Expect.HandledCleanly(r);
            if (File.Exists(_dir.File("out.onnx"))) File.Delete(_dir.File("out.onnx"));
        }
    }
}
