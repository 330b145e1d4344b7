using Ternion.Backends;
using Ternion.Backends.Targets;
using Ternion.Backends.Verification;
using Ternion.Guides.Tests.GuideCode;
using Ternion.IR;
using Ternion.IR.Serialization;
using Ternion.Ternary.Tests;
using Ternion.TestSupport;

namespace Ternion.Guides.Tests;

/// <summary>Runs the code of docs/adding-a-target.md: the example target, registered and tested the way the guide says.</summary>
public class TargetGuideTests
{
    [Fact]
    public void TheEdgeTargetCompilesAndItsOutputComputesWhatTheOriginalComputed()
    {
        using var dir = new TempDir("guide-target");
        string original = dir.File("model.onnx"), compiled = dir.File("edge.onnx");
        var model = WeightModels.MatMulGemmModel(700, 48, DataType.Float, ScaleKind.PerChannel);
        foreach (var n in model.Graph.Nodes) n.DocString = "from the exporter";
        ModelSerializer.Save(model, original);

        // guide:begin test-target
        var registry = TargetRegistry.WithBuiltIns();
        registry.Add(new EdgeRuntimeTarget(), "guide");
        TernionCompiler.Compile(new CompileRequest
        {
            InputPath = original, OutputPath = compiled, Target = "edge-runtime", CheckInvariants = true,
        }, registry);

        var verify = ModelVerifier.Verify(original, compiled, new VerifyOptions { Rtol = 1e-5, Atol = 1e-6 });
        Assert.True(verify.Ok, string.Join("; ", verify.Outputs));
        // guide:end test-target

        var m = ModelSerializer.Load(compiled);
        Assert.Equal(2, m.Graph.Nodes.Count(n => n.OpType == "TernaryDecode"));
        Assert.All(m.Graph.Nodes, n => Assert.Null(n.DocString));
        var external = m.Graph.Initializers.Select(v => v.Initializer!).Where(t => t.ByteLength >= 1024).ToList();
        Assert.Equal(["decoy", "w1.ttf1", "w2.ttf1"], external.Select(t => t.Name).Order(StringComparer.Ordinal));
        Assert.All(external, t => Assert.Equal(0, ((ExternalTensorData)t.Data).Offset % 256));
        Assert.All(m.Graph.Nodes.Where(n => n.OpType == "TernaryDecode"), n => Assert.Equal(640, n.GetInt("block_size", 0)));
    }
}
