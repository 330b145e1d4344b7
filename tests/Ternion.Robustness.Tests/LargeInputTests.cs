using Google.Protobuf;
using Ternion.IR;
using Ternion.IR.Onnx;
using Ternion.IR.Serialization;
using Ternion.Robustness.Tests.Harness;
using Ternion.TestSupport;
using Xunit.Abstractions;

namespace Ternion.Robustness.Tests;

/// <summary>
/// Inputs that are large but valid must load, convert and compile, quickly; inputs past a limit
/// are refused with the limit named. The limits are generous enough for real LLMs.
/// </summary>
public class LargeInputTests(ITestOutputHelper log) : IDisposable
{
    private readonly TempDir _dir = new("large");
    public void Dispose() => _dir.Dispose();

    private string Save(ModelProto m, string name = "model.onnx")
    {
        var p = _dir.File(name);
        Protos.Write(m, p);
        return p;
    }

    /// <summary>inspect, convert and compile all succeed, each well within <paramref name="limit"/>; returns the converted file.</summary>
    private string AllCommandsSucceed(string model, TimeSpan limit)
    {
        var inspect = CliHarness.Run(limit, "inspect", model);
        log.WriteLine(inspect.ToString());
        Expect.Succeeded(inspect);
        var converted = _dir.File("converted.onnx");
        var convert = CliHarness.Run(limit, "convert", model, "-o", converted);
        log.WriteLine(convert.ToString());
        Expect.Succeeded(convert);
        var compiled = _dir.File("compiled.onnx");
        var compile = CliHarness.Run(limit, "compile", model, "-o", compiled);
        log.WriteLine(compile.ToString());
        Assert.True(compile.ExitCode == 0, compile.ToString());
        return converted;
    }

    [Fact]
    public void AHundredThousandNodeChainLoadsConvertsAndCompiles()
    {
        // A chain is the deepest dependency graph 100,000 nodes can make: anything recursive over it overflows the stack.
        var model = Save(ModelProtos.Chain(100_000));
        var converted = AllCommandsSucceed(model, TimeSpan.FromSeconds(30));
        Assert.Equal(File.ReadAllBytes(model), File.ReadAllBytes(converted));
    }

    [Fact]
    public void AHundredThousandNodeChainInReverseOrderIsSortedWithoutADeepStack()
    {
        // Node order in a file need not be topological: compile sorts it. With a 512 KiB stack,
        // recursion once per node would overflow long before 100,000 nodes, so the cycle check and
        // the sort must be iterative. compile covers loading, the pipeline and writing.
        var m = ModelProtos.Chain(100_000);
        var reversed = m.Graph.Node.Reverse().ToList();
        m.Graph.Node.Clear();
        m.Graph.Node.AddRange(reversed);
        var model = Save(m);
        var r = CliHarness.RunProcess(TimeSpan.FromSeconds(120), null, 512, "compile", model, "-o", _dir.File("compiled.onnx"));
        log.WriteLine(r.ToString());
        Assert.True(r.ExitCode == 0, r.ToString());
        var sorted = ModelSerializer.Load(_dir.File("compiled.onnx"));
        Assert.Equal("x", sorted.Graph.Nodes.First!.Inputs[0]!.Name);
        Assert.Equal("y", sorted.Graph.Nodes.Last!.Outputs[0]!.Name);
    }

    [Fact]
    public void AHundredThousandAttributesOnOneNodeRoundTrip()
    {
        // ONNX Runtime would reject unknown attributes on Relu; Ternion carries them losslessly, and fast.
        var m = Protos.Tiny();
        for (int i = 0; i < 100_000; i++) m.Graph.Node[0].Attribute.Add(ModelProtos.IntAttr($"a{i}", i));
        var model = Save(m);
        var converted = AllCommandsSucceed(model, TimeSpan.FromSeconds(30));
        Assert.Equal(File.ReadAllBytes(model), File.ReadAllBytes(converted));
    }

    [Fact]
    public void TenMillionValuesInOneAttributeRoundTrip()
    {
        var m = Protos.Tiny();
        m.Graph.Node[0].Attribute.Add(ModelProtos.IntsAttr("many", Enumerable.Repeat(1L, 10_000_000).ToArray()));
        var model = Save(m);
        var converted = AllCommandsSucceed(model, TimeSpan.FromSeconds(30));
        Assert.Equal(File.ReadAllBytes(model), File.ReadAllBytes(converted));
    }

    [Fact]
    public void SubgraphsNestedExactlyAtTheLimitAreAccepted()
    {
        // NestedIfs(99) puts the innermost branch at depth 100: the limit itself is allowed.
        var model = Save(ModelProtos.NestedIfs(99));
        var r = CliHarness.Run("inspect", model, "--json");
        Expect.Succeeded(r);
        Assert.Contains("\"maxSubgraphDepth\": 100", r.Stdout);
        AllCommandsSucceed(model, TimeSpan.FromSeconds(30));
    }

    [Fact]
    public void NodeLimitIsEnforcedWithItsNumber()
    {
        // The CLI's limit (20,000,000 nodes) needs a file of hundreds of MB; the same check with a small limit.
        var bytes = ModelProtos.Chain(1001).ToByteArray();
        var limits = new LoadLimits { MaxNodes = 1000 };
        var e = Assert.Throws<ModelFormatException>(() => ModelSerializer.FromBytes(bytes, "chain.onnx", null, limits));
        Assert.Equal("chain.onnx: the model has more than 1,000 nodes", e.Message);
        Assert.Equal(1001, ModelSerializer.FromBytes(bytes, "chain.onnx", null, limits with { MaxNodes = 1001 }).Graph.Nodes.Count);
    }

    [Fact]
    public void TensorLimitIsEnforcedWithItsNumber()
    {
        var m = Protos.Tiny();
        m.Graph.Initializer.Add(Protos.FloatTensor("w", [1024], new float[1024]));
        var bytes = m.ToByteArray();
        var e = Assert.Throws<ModelFormatException>(() => ModelSerializer.FromBytes(bytes, "w.onnx", null, new LoadLimits { MaxTensorBytes = 4095 }));
        Assert.Contains("'w'", e.Message);
        Assert.Contains("over the 4,095-byte tensor limit", e.Message);
        ModelSerializer.FromBytes(bytes, "w.onnx", null, new LoadLimits { MaxTensorBytes = 4096 });
    }

    [Fact]
    public void AttributeCountLimitIsEnforced()
    {
        var m = Protos.Tiny();
        for (int i = 0; i < 11; i++) m.Graph.Node[0].Attribute.Add(ModelProtos.IntAttr($"a{i}", i));
        var bytes = m.ToByteArray();
        var e = Assert.Throws<ModelFormatException>(() => ModelSerializer.FromBytes(bytes, "a.onnx", null, new LoadLimits { MaxAttributeValues = 10 }));
        Assert.Contains("11 attributes, more than the limit of 10", e.Message);
    }
}
