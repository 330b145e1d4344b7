using System.Buffers.Binary;
using Google.Protobuf;
using Ternion.IR.Onnx;

namespace Ternion.TestSupport;

/// <summary>
/// Models whose tensors are stored inline in every way ONNX allows (raw_data and each packed typed
/// field), in every place the IR keeps tensors (initializers, node attributes t and tensors,
/// subgraphs, function attribute defaults and function bodies), with the bytes each tensor must
/// read as, computed here from the values (little-endian, as ONNX defines raw_data).
/// </summary>
public static class InlineModels
{
    public sealed record Expected(string Name, byte[] Bytes, bool Large);

    private static TensorProto Tensor(string name, int dataType, long[] dims)
    {
        var t = new TensorProto { Name = name, DataType = dataType };
        t.Dims.AddRange(dims);
        return t;
    }

    private static byte[] Floats(IEnumerable<float> v) => v.SelectMany(BitConverter.GetBytes).ToArray();

    public static (ModelProto Model, List<Expected> Tensors) AllKinds()
    {
        var expected = new List<Expected>();
        TensorProto Raw(string name, int count, int seed)
        {
            var values = Enumerable.Range(0, count).Select(i => (float)Math.Sin(i * 0.37 + seed)).ToArray();
            var t = Tensor(name, 1, [count]);
            t.RawData = ByteString.CopyFrom(Floats(values));
            expected.Add(new(name, Floats(values), count * 4 >= 1024));
            return t;
        }

        var g = new GraphProto { Name = "inline_kinds" };
        g.Input.Add(Protos.Float("x", 1));

        g.Initializer.Add(Raw("raw_f32", 512, 1));
        g.Initializer.Add(Raw("small_raw", 4, 2));

        var fd = Enumerable.Range(0, 300).Select(i => i * 0.25f - 7f).ToArray();
        var floatData = Tensor("float_data", 1, [300]);
        floatData.FloatData.AddRange(fd);
        g.Initializer.Add(floatData);
        expected.Add(new("float_data", Floats(fd), true));

        var cd = Enumerable.Range(0, 400).Select(i => i * -0.5f).ToArray();
        var complex = Tensor("complex64", 14, [200]);
        complex.FloatData.AddRange(cd);
        g.Initializer.Add(complex);
        expected.Add(new("complex64", Floats(cd), true));

        var dd = Enumerable.Range(0, 200).Select(i => Math.Exp(i * 0.1) - 3).ToArray();
        var doubleData = Tensor("double_data", 11, [200]);
        doubleData.DoubleData.AddRange(dd);
        g.Initializer.Add(doubleData);
        expected.Add(new("double_data", dd.SelectMany(BitConverter.GetBytes).ToArray(), true));

        // int32_data: negative values take ten bytes each as varints.
        var i32 = Enumerable.Range(0, 400).Select(i => (i - 200) * 100_003).ToArray();
        var int32 = Tensor("int32_data", 6, [400]);
        int32.Int32Data.AddRange(i32);
        g.Initializer.Add(int32);
        expected.Add(new("int32_data", i32.SelectMany(BitConverter.GetBytes).ToArray(), true));

        var trits = Enumerable.Range(0, 1500).Select(i => i % 3 - 1).ToArray();
        var int8 = Tensor("int8_trits", 3, [30, 50]);
        int8.Int32Data.AddRange(trits);
        g.Initializer.Add(int8);
        expected.Add(new("int8_trits", trits.Select(v => (byte)(sbyte)v).ToArray(), true));

        var halves = Enumerable.Range(0, 800).Select(i => (int)BitConverter.HalfToUInt16Bits((Half)(i * 0.125f - 50))).ToArray();
        var f16 = Tensor("float16", 10, [800]);
        f16.Int32Data.AddRange(halves);
        g.Initializer.Add(f16);
        expected.Add(new("float16", halves.SelectMany(h => BitConverter.GetBytes((ushort)h)).ToArray(), true));

        var bools = Enumerable.Range(0, 1200).Select(i => i % 7 == 0 ? 1 : 0).ToArray();
        var boolT = Tensor("bool", 9, [1200]);
        boolT.Int32Data.AddRange(bools);
        g.Initializer.Add(boolT);
        expected.Add(new("bool", bools.Select(b => (byte)b).ToArray(), true));

        var i64 = Enumerable.Range(0, 300).Select(i => (i - 150) * 1_000_000_007L).ToArray();
        var int64 = Tensor("int64_data", 7, [300]);
        int64.Int64Data.AddRange(i64);
        g.Initializer.Add(int64);
        expected.Add(new("int64_data", i64.SelectMany(BitConverter.GetBytes).ToArray(), true));

        var u64 = Enumerable.Range(0, 200).Select(i => ulong.MaxValue - (ulong)i * 977).ToArray();
        var uint64 = Tensor("uint64_data", 13, [200]);
        uint64.Uint64Data.AddRange(u64);
        g.Initializer.Add(uint64);
        expected.Add(new("uint64_data", u64.SelectMany(BitConverter.GetBytes).ToArray(), true));

        var u32 = Enumerable.Range(0, 300).Select(i => uint.MaxValue - (uint)i * 13).ToArray();
        var uint32 = Tensor("uint32", 12, [300]);
        uint32.Uint64Data.AddRange(u32.Select(v => (ulong)v));
        g.Initializer.Add(uint32);
        expected.Add(new("uint32", u32.SelectMany(BitConverter.GetBytes).ToArray(), true));

        // A Constant's value attribute (t).
        var constant = Protos.Node("Constant", [], ["c"]);
        constant.Attribute.Add(new AttributeProto { Name = "value", Type = AttributeProto.Types.AttributeType.Tensor, T = Raw("constant_value", 400, 3) });
        g.Node.Add(constant);

        // A tensor list attribute (tensors) on an op of a custom domain.
        var holder = Protos.Node("Holder", ["x"], ["h"], "com.test");
        var list = new AttributeProto { Name = "weights", Type = AttributeProto.Types.AttributeType.Tensors };
        list.Tensors.Add(Raw("list_0", 300, 4));
        list.Tensors.Add(Raw("list_1", 260, 5));
        holder.Attribute.Add(list);
        g.Node.Add(holder);

        // Subgraphs: an If whose branches hold their own weights.
        var cond = Tensor("cond", 9, []);
        cond.RawData = ByteString.CopyFrom([1]);
        g.Initializer.Add(cond);
        expected.Add(new("cond", [1], false));
        GraphProto Branch(string name, int seed)
        {
            var b = new GraphProto { Name = name };
            b.Initializer.Add(Raw($"{name}_w", 600, seed));
            b.Node.Add(Protos.Node("Identity", [$"{name}_w"], [$"{name}_out"]));
            b.Output.Add(Protos.Float($"{name}_out", 600));
            return b;
        }
        var ifNode = Protos.Node("If", ["cond"], ["r"]);
        ifNode.Attribute.Add(new AttributeProto { Name = "then_branch", Type = AttributeProto.Types.AttributeType.Graph, G = Branch("then", 6) });
        ifNode.Attribute.Add(new AttributeProto { Name = "else_branch", Type = AttributeProto.Types.AttributeType.Graph, G = Branch("else", 7) });
        g.Node.Add(ifNode);

        // A model-local function with a default tensor attribute and a Constant in its body.
        var f = new FunctionProto { Name = "F", Domain = "com.test" };
        f.Input.Add("fx");
        f.Output.Add("fy");
        var fconst = Protos.Node("Constant", [], ["fw"]);
        fconst.Attribute.Add(new AttributeProto { Name = "value", Type = AttributeProto.Types.AttributeType.Tensor, T = Raw("function_constant", 256, 8) });
        f.Node.Add(fconst);
        f.Node.Add(Protos.Node("Add", ["fx", "fw"], ["fy"]));
        f.AttributeProto.Add(new AttributeProto { Name = "w", Type = AttributeProto.Types.AttributeType.Tensor, T = Raw("function_default", 300, 9) });
        f.OpsetImport.Add(new OperatorSetIdProto { Domain = "", Version = 17 });
        g.Node.Add(Protos.Node("F", ["x"], ["fo"], "com.test"));

        g.Output.Add(Protos.Float("c", 400));
        g.Output.Add(Protos.Float("h", 1));
        g.Output.Add(Protos.Float("r", 600));
        g.Output.Add(Protos.Float("fo", 256));
        var m = Protos.Wrap(g, 17);
        m.OpsetImport.Add(new OperatorSetIdProto { Domain = "com.test", Version = 1 });
        m.Functions.Add(f);
        return (m, expected);
    }

    /// <summary>
    /// A float model of about <paramref name="megabytes"/> MB in raw_data initializers of 4 MiB each
    /// (y = x + w0 + w1 + ...), written to <paramref name="path"/> with Google.Protobuf one tensor at
    /// a time (not through Ternion), so generating it needs little memory either.
    /// </summary>
    public static long WriteLargeRaw(string path, int megabytes)
    {
        const int n = 1 << 20; // floats per tensor: 4 MiB
        int tensors = Math.Max(1, megabytes / 4);
        var g = new GraphProto { Name = "large_inline" };
        g.Input.Add(Protos.Float("x", n));
        string acc = "x";
        for (int i = 0; i < tensors; i++)
        {
            g.Node.Add(Protos.Node("Add", [acc, $"w{i}"], [$"s{i}"]));
            acc = $"s{i}";
        }
        g.Output.Add(Protos.Float(acc, n));
        // Fields in the order Google.Protobuf writes them (ir_version, producer, graph, opset_import),
        // so that a save of the loaded model gives the same bytes.
        var model = Protos.Wrap(g, 17);
        model.Graph = null;
        var opsets = new ModelProto();
        opsets.OpsetImport.AddRange(model.OpsetImport);
        model.OpsetImport.Clear();
        // The graph field is written by hand: its nodes and inputs, then each initializer serialized
        // from one reused buffer, with the graph's length computed up front.
        var buffer = new byte[n * 4];
        TensorProto Init(int i)
        {
            for (int j = 0; j < n; j++) BinaryPrimitives.WriteSingleLittleEndian(buffer.AsSpan(j * 4), WeightValue(i, j));
            var init = new TensorProto { Name = $"w{i}", DataType = 1, RawData = UnsafeByteOperations.UnsafeWrap(buffer) };
            init.Dims.Add(n);
            return init;
        }
        // Graph fields before the initializers (node, name) and after them (input, output).
        var after = new GraphProto();
        after.Input.AddRange(g.Input);
        after.Output.AddRange(g.Output);
        g.Input.Clear();
        g.Output.Clear();
        long graphLength = g.CalculateSize() + after.CalculateSize();
        for (int i = 0; i < tensors; i++)
        {
            int size = Init(i).CalculateSize();
            graphLength += 1 + CodedOutputStream.ComputeLengthSize(size) + size;
        }
        using var f = new FileStream(path, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 20);
        var output = new CodedOutputStream(f, leaveOpen: true);
        model.WriteTo(output);
        output.WriteTag(7, WireFormat.WireType.LengthDelimited);
        output.WriteLength(checked((int)graphLength));
        g.WriteTo(output);
        for (int i = 0; i < tensors; i++)
        {
            var init = Init(i);
            output.WriteTag(5, WireFormat.WireType.LengthDelimited);
            output.WriteLength(init.CalculateSize());
            init.WriteTo(output);
        }
        after.WriteTo(output);
        opsets.WriteTo(output);
        output.Flush();
        return f.Length;
    }

    /// <summary>Value j of weight i in <see cref="WriteLargeRaw"/>.</summary>
    public static float WeightValue(int tensor, int index) => (index * 31 + tensor * 7) % 97 * 0.5f - 24f;
}
