using Microsoft.Extensions.Logging;
using Ternion.Backends.Verification;
using Ternion.IR;
using Ternion.IR.Serialization;

namespace Ternion.Passes.Tests;

/// <summary>Small float models built in memory, and a way to run them on ONNX Runtime.</summary>
public static class TestModels
{
    public static Model Empty(int opset = 17)
    {
        var m = new Model(new Graph { Name = "g" }) { IrVersion = 8, ProducerName = "ternion-tests" };
        m.OpsetImports.Add(new OpsetId("", opset));
        return m;
    }

    public static IrType F32(params long[] dims) => IrType.Tensor(DataType.Float, dims);

    /// <summary>Appends a default-domain node with one output named <paramref name="output"/>.</summary>
    public static Value Op(Graph g, string op, string output, params Value?[] inputs) => Op(g, op, output, inputs, []);

    public static Value Op(Graph g, string op, string output, Value?[] inputs, Attribute[] attributes, string? nodeName = null)
    {
        var v = g.Append(new Node("", op, inputs, [new Value(output)], attributes, nodeName)).Output();
        return v;
    }

    public static void Output(Graph g, Value v, params long[] dims)
    {
        v.Type ??= F32(dims);
        g.Outputs.Add(v);
    }

    /// <summary>x [2, 3] -> Neg -> h -> Relu -> y (output).</summary>
    public static Model NegRelu()
    {
        var m = Empty();
        var g = m.Graph;
        var x = g.AddInput("x", F32(2, 3));
        var h = Op(g, "Neg", "h", x);
        Output(g, Op(g, "Relu", "y", h), 2, 3);
        return m;
    }

    /// <summary>x [2, K] -> MatMul(x, w) -> y, with w [K, N] ternary (trits times 0.05).</summary>
    public static Model TernaryMatMul(int k = 64, int n = 32, int seed = 5)
    {
        var m = Empty();
        var g = m.Graph;
        var rng = new Random(seed);
        var w = Enumerable.Range(0, k * n).Select(_ => (rng.Next(3) - 1) * 0.05f).ToArray();
        var x = g.AddInput("x", F32(2, k));
        var wv = g.AddInitializer(Tensor.FromArray("w", DataType.Float, [k, n], w));
        Output(g, Op(g, "MatMul", "y", [x, wv], [], "mm"), 2, n);
        return m;
    }

    /// <summary>Runs a model held in memory on ONNX Runtime with deterministic inputs for every graph input.</summary>
    public static Dictionary<string, float[]> Run(Model m, int seed = 1)
    {
        var rng = new Random(seed);
        var inputs = new Dictionary<string, RunValue>();
        foreach (var v in m.Graph.Inputs.Where(v => !v.IsInitializer))
        {
            var dims = v.Type!.Shape!.TryGetStatic()!;
            var data = Enumerable.Range(0, (int)Tensor.ElementCountOf(dims)).Select(_ => (float)(rng.NextDouble() * 4 - 2)).ToArray();
            inputs[v.Name] = RunValue.FromArray(DataType.Float, dims, data);
        }
        return OrtRunner.Run(ModelSerializer.ToBytes(m), inputs).ToDictionary(p => p.Name, p => p.Value.ToArray<float>());
    }
}

/// <summary>Keeps every log line, for tests that read what -v would show.</summary>
public sealed class ListLogger : ILogger
{
    public List<string> Lines { get; } = new();
    public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;
    public bool IsEnabled(LogLevel logLevel) => true;
    public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
    {
        lock (Lines) Lines.Add(formatter(state, exception));
    }
}
