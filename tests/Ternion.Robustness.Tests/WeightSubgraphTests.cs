using System.Text.Json;
using Ternion.IR;
using Ternion.IR.Serialization;
using Ternion.Robustness.Tests.Harness;
using Ternion.TestSupport;
using Xunit.Abstractions;

namespace Ternion.Robustness.Tests;

/// <summary>
/// Weight subgraphs that cannot be computed at compile time — shapes that do not add up, an integer
/// division by zero (which would trap inside ONNX Runtime), an operator the runtime refuses — are
/// not errors of the model as a whole: compile succeeds, the weight stays as it is (its subgraph and
/// its stored tensor untouched), and the report says why. Never a crash, never a wrong packed weight.
/// </summary>
public class WeightSubgraphTests(ITestOutputHelper log)
{
    private const int K = 64, N = 16;

    /// <summary>x [2, K] -> MatMul with the B operand <paramref name="weight"/> builds -> y [2, N].</summary>
    private static Model Linear(Func<Graph, Value> weight, long opset = 21)
    {
        var g = new Graph { Name = "cone" };
        var m = new Model(g) { IrVersion = 10 };
        m.OpsetImports.Add(new OpsetId("", opset));
        var x = g.AddInput("x", IrType.Tensor(DataType.Float, 2, K));
        var y = g.Append(new Node("", "MatMul", [x, weight(g)], 1)).Output();
        g.Rename(y, "y");
        y.Type = IrType.Tensor(DataType.Float, 2, N);
        g.Outputs.Add(y);
        return m;
    }

    private static Value Op(Graph g, string op, Value?[] inputs, params Attribute[] attrs) => g.Append(new Node("", op, inputs, 1, attrs)).Output();

    private static Value Bytes(Graph g, string name, DataType t, long[] dims, byte value) =>
        g.AddInitializer(new Tensor(name, t, dims, new MemoryTensorData(Enumerable.Repeat(value, (int)DataTypes.ByteCount(t, Tensor.ElementCountOf(dims))).ToArray())), name);

    public static TheoryData<string> Cases => new()
    {
        "packed uint8 whose parts do not concatenate",
        "an integer division by zero",
        "an integer divisor computed in the graph, behind a reduction",
        "an operator the runtime refuses in this opset",
        "a scalar expanded to terabytes",
        "a node declaring more outputs than its operator has",
    };

    private static (Model Model, string Leaf, string Fragment) Build(string name) => name switch
    {
        // HF-style unpacking, but the fourth part has one column fewer: Concat cannot join them.
        "packed uint8 whose parts do not concatenate" => (Linear(g =>
        {
            var packed = Bytes(g, "w.packed", DataType.UInt8, [N / 4, K], 0x55);
            var odd = Bytes(g, "w.odd", DataType.UInt8, [N / 4, K - 1], 0x55);
            var parts = new[] { packed, packed, packed, odd }.Select((p, i) => Op(g, "BitShift",
                [Op(g, "BitwiseAnd", [p, g.AddInitializer(Tensor.FromArray(null, DataType.UInt8, [], new[] { (byte)(3 << (2 * i)) }), "mask")]),
                 g.AddInitializer(Tensor.FromArray(null, DataType.UInt8, [], new[] { (byte)(2 * i) }), "shift")], Attribute.String("direction", "RIGHT"))).ToArray();
            var t = Op(g, "Sub", [Op(g, "Cast", [Op(g, "Concat", parts, Attribute.Int("axis", 0))], Attribute.Int("to", 1)),
                g.AddInitializer(Tensor.FromArray(null, DataType.Float, [], new[] { 1f }), "one")]);
            return Op(g, "Transpose", [t], Attribute.Ints("perm", [1, 0]));
        }), "w.packed", "cannot be computed"),
        // (q / 0): ONNX Runtime's integer division would trap; the native evaluator refuses it.
        "an integer division by zero" => (Linear(g =>
        {
            var q = Bytes(g, "w.q", DataType.Int32, [K, N], 1);
            var zero = g.AddInitializer(Tensor.FromArray(null, DataType.Int32, [], new[] { 0 }), "zero");
            return Op(g, "Cast", [Op(g, "Div", [q, zero])], Attribute.Int("to", 1));
        }), "w.q", "division by zero"),
        // A reduction sends the cone to ONNX Runtime, whose divisor here is computed: not handed over.
        "an integer divisor computed in the graph, behind a reduction" => (Linear(g =>
        {
            var q = Bytes(g, "w.q", DataType.Int32, [K, N], 2);
            var d = Op(g, "ReduceMin", [Bytes(g, "w.d", DataType.Int32, [N], 0)], Attribute.Int("keepdims", 0));
            return Op(g, "Cast", [Op(g, "Div", [q, d])], Attribute.Int("to", 1));
        }), "w.q", "cannot be checked for zero"),
        // ReduceMean takes its axes as an input only from opset 18: at 13 ORT refuses to load the cone.
        "an operator the runtime refuses in this opset" => (Linear(g =>
        {
            var w = g.AddInitializer(Tensor.FromArray("w", DataType.Float, [K, N], Enumerable.Range(0, K * N).Select(i => (float)(i % 3 - 1)).ToArray()), "w");
            var axes = g.AddInitializer(Tensor.FromArray(null, DataType.Int64, [1], new[] { 0L }), "axes");
            var mean = Op(g, "ReduceMean", [w, axes]);
            return Op(g, "Div", [w, mean]);
        }, opset: 13), "w", "ONNX Runtime cannot"),
        // Expand's shape comes from the data: 2^20 x 2^20 floats would be 4 TiB. Neither evaluator may try.
        "a scalar expanded to terabytes" => (Linear(g =>
        {
            var w = g.AddInitializer(Tensor.FromArray("w", DataType.Float, [], new[] { 1f }), "w");
            var shape = g.AddInitializer(Tensor.FromArray("w.shape", DataType.Int64, [2], new[] { 1L << 20, 1L << 20 }), "w.shape");
            var big = Op(g, "Expand", [w, shape]);
            var axes = g.AddInitializer(Tensor.FromArray(null, DataType.Int64, [1], new[] { 0L }), "axes");
            return Op(g, "Slice", [Op(g, "ReduceL2", [big, axes], Attribute.Int("keepdims", 1)), g.AddInitializer(Tensor.FromArray(null, DataType.Int64, [1], new[] { 0L }), "s0"),
                g.AddInitializer(Tensor.FromArray(null, DataType.Int64, [1], new[] { (long)K }), "s1")]);
        }), "w.shape", "allocate"),
        // Found by the fuzzer: Neg with two outputs. Neither evaluator can compute it (ORT refuses to load it).
        "a node declaring more outputs than its operator has" => (Linear(g =>
        {
            var w = g.AddInitializer(Tensor.FromArray("w", DataType.Float, [K, N], Enumerable.Range(0, K * N).Select(i => (float)(i % 3 - 1)).ToArray()), "w");
            return g.Append(new Node("", "Neg", [w], 2)).Output(0);
        }), "w", "declares 2 outputs"),
        _ => throw new ArgumentException(name),
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void TheWeightStaysAsItIsAndTheReportSaysWhy(string name)
    {
        var (model, leaf, fragment) = Build(name);
        using var dir = new TempDir("cones");
        string input = dir.File("model.onnx"), output = dir.File("out.onnx"), report = dir.File("report.json");
        ModelSerializer.Save(model, input);
        var r = CliHarness.Run("compile", input, "-o", output, "--target", "native", "--report", report, "--check");
        log.WriteLine(r.ToString());
        Expect.Succeeded(r);
        using var json = JsonDocument.Parse(File.ReadAllText(report));
        Assert.Equal(0, json.RootElement.GetProperty("ternaryWeights").GetArrayLength());
        var rejected = json.RootElement.GetProperty("rejected").EnumerateArray().Select(e => (Name: e.GetProperty("name").GetString(), Reason: e.GetProperty("reason").GetString()!)).ToList();
        var entry = Assert.Single(rejected, e => e.Name == leaf);
        Assert.Contains(fragment, entry.Reason);
        // Untouched: the same nodes, and the stored tensor with the same bytes.
        var before = ModelSerializer.Load(input);
        var after = ModelSerializer.Load(output);
        Assert.Equal(before.Graph.Nodes.Select(n => n.OpType), after.Graph.Nodes.Select(n => n.OpType));
        Assert.Equal(before.Graph.Initializers.Single(v => v.Name == leaf).Initializer!.ToArray<byte>(),
            after.Graph.Initializers.Single(v => v.Name == leaf).Initializer!.ToArray<byte>());
    }

    [Fact]
    public void AConsistentMatMulNBitsIsTranscodedAndVerifies()
    {
        // The corpus' MatMulNBits model as it is, before any edit makes it inconsistent.
        using var dir = new TempDir("nbits");
        string input = dir.File("model.onnx"), output = dir.File("out.onnx");
        Protos.Write(ModelProtos.MatMulNBitsModel(), input);
        var r = CliHarness.Run("compile", input, "-o", output, "--target", "fallback", "--check");
        log.WriteLine(r.ToString());
        Expect.Succeeded(r);
        Assert.Contains("1 ternary weight(s) packed", r.Stdout);
        var v = CliHarness.Run("verify", input, output, "--rtol", "1e-5", "--atol", "1e-5");
        log.WriteLine(v.ToString());
        Assert.Equal(0, v.ExitCode);
    }
}
