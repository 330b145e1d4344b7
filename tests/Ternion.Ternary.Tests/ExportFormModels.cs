using System.Runtime.InteropServices;
using Ternion.IR;
using Ternion.SampleGen;

namespace Ternion.Ternary.Tests;

/// <summary>
/// A model of several linear layers reading one input X [2, K], each writing its weight in one of
/// the forms exporters use (built with <see cref="ExportForms"/>), with one graph output per layer.
/// </summary>
public sealed class FormModel
{
    public const int K = 700, N = 48;

    public FormModel(long opset = 21, int k = K)
    {
        Graph = new Graph { Name = "forms" };
        Model = new Model(Graph) { IrVersion = 10, ProducerName = "ternion-tests" };
        Model.OpsetImports.Add(new OpsetId("", opset));
        Forms = new ExportForms(Graph, opset);
        Rows = k;
        X = Graph.AddInput("x", IrType.Tensor(DataType.Float, 2, k));
    }

    public Model Model { get; }
    public Graph Graph { get; }
    public ExportForms Forms { get; }
    public Value X { get; }
    public int Rows { get; }

    public void Output(Value y, string name, int n = N)
    {
        Graph.Rename(y, name);
        y.Type = IrType.Tensor(DataType.Float, 2, n);
        Graph.Outputs.Add(y);
    }

    public Value Initializer(string name, DataType type, long[] dims, byte[] bytes) =>
        Graph.AddInitializer(new Tensor(name, type, dims, new MemoryTensorData(bytes)), name);

    public Value Floats(string name, long[] dims, float[] values) => Graph.AddInitializer(Tensor.FromArray(name, DataType.Float, dims, values), name);

    /// <summary>Uniform random trits [rows, cols] (about a third zeros).</summary>
    public static sbyte[] Trits(int rows, int cols, int seed)
    {
        var rng = new Random(seed);
        return Enumerable.Range(0, rows * cols).Select(_ => (sbyte)(rng.Next(3) - 1)).ToArray();
    }

    /// <summary>trit * scale, one scale per row (per channel) or the first for all.</summary>
    public static float[] Scaled(sbyte[] trits, int rows, int cols, float[] rowScales)
    {
        var v = new float[trits.Length];
        for (int r = 0; r < rows; r++)
            for (int c = 0; c < cols; c++)
                v[r * cols + c] = trits[r * cols + c] * rowScales[rowScales.Length == 1 ? 0 : r];
        return v;
    }

    /// <summary>A latent Gaussian master weight (what a BitNet training checkpoint stores).</summary>
    public static float[] Master(int rows, int cols, int seed, bool perRowGain = false)
    {
        var rng = new Random(seed);
        var gains = Enumerable.Range(0, rows).Select(_ => perRowGain ? 0.5 + 1.5 * rng.NextDouble() : 1.0).ToArray();
        var v = new float[rows * cols];
        for (int i = 0; i < v.Length; i++)
        {
            double u1 = 1.0 - rng.NextDouble(), u2 = rng.NextDouble();
            v[i] = (float)(Math.Sqrt(-2 * Math.Log(u1)) * Math.Cos(2 * Math.PI * u2) * 0.02 * gains[i / cols]);
        }
        return v;
    }

    public static byte[] Bytes<T>(T[] v) where T : unmanaged => MemoryMarshal.AsBytes(v.AsSpan()).ToArray();
}
