using System.Security.Cryptography;
using Google.Protobuf;
using Ternion.IR;
using Ternion.IR.Onnx;
using Ternion.IR.Serialization;
using Ternion.TestSupport;
using Xunit.Abstractions;

namespace Ternion.IR.Tests;

/// <summary>
/// Inline tensors are read in place: their large data fields stay in the model file at load, read
/// only when a tensor is opened or written, and every result equals what parsing the whole file
/// with Google.Protobuf gives (ModelSerializer.FromBytesParsedWhole, the reader before this one).
/// </summary>
public class InlineTensorTests(ITestOutputHelper output)
{
    private static Dictionary<string, Tensor> TensorsByName(Model m) =>
        m.AllTensors().Where(t => t.Name is not null).ToDictionary(t => t.Name!);

    private static byte[] BytesOf(Tensor t)
    {
        using var b = t.Data.Open();
        return b.Span.ToArray();
    }

    [Fact]
    public void EveryDataFieldKindInEveryPlaceIsReadInPlaceWithTheRightValues()
    {
        var (proto, expected) = InlineModels.AllKinds();
        using var dir = new TempDir("inline");
        var path = dir.File("kinds.onnx");
        Protos.Write(proto, path);
        var original = File.ReadAllBytes(path);

        var model = ModelSerializer.Load(path);
        var reference = ModelSerializer.FromBytesParsedWhole(original, path);
        var tensors = TensorsByName(model);
        var referenceTensors = TensorsByName(reference);
        foreach (var e in expected)
        {
            var t = tensors[e.Name];
            var data = Assert.IsType<ProtoTensorData>(t.Data);
            // Large ones stay in the file (every typed field kind included); small ones are parsed.
            Assert.True(e.Large == data.Payload is not null, $"{e.Name}: large {e.Large}, left in the file {data.Payload is not null}");
            Assert.Equal(e.Bytes.Length, t.ByteLength);
            Assert.True(e.Bytes.AsSpan().SequenceEqual(BytesOf(t)), $"{e.Name}: bytes differ");
            Assert.True(BytesOf(referenceTensors[e.Name]).AsSpan().SequenceEqual(BytesOf(t)), $"{e.Name}: differs from the parse-whole reader");
        }
        Assert.Equal(expected.Count(e => e.Large), model.AllTensors().Count(t => t.Data is ProtoTensorData { Payload: not null }));

        // In memory and on disk, what is written is what Google.Protobuf writes for the whole message.
        Assert.Equal(proto.ToByteArray(), ModelSerializer.ToProto(model).ToByteArray());
        Assert.Equal(original, ModelSerializer.ToBytes(model));
        var saved = dir.File("saved.onnx");
        ModelSerializer.Save(model, saved, new SaveOptions { ExternalData = ExternalDataMode.Never });
        Assert.Equal(original, File.ReadAllBytes(saved));

        // Moved to external data and back, the values stay.
        var external = dir.File("external.onnx");
        var r = ModelSerializer.Save(model, external, new SaveOptions { ExternalData = ExternalDataMode.Always });
        Assert.Equal(expected.Count(e => e.Large), r.ExternalTensors);
        var back = ModelSerializer.Load(external);
        var backTensors = TensorsByName(back);
        foreach (var e in expected) Assert.True(e.Bytes.AsSpan().SequenceEqual(BytesOf(backTensors[e.Name])), $"{e.Name}: bytes differ after external data");
        var inlineAgain = dir.File("inline-again.onnx");
        ModelSerializer.Save(back, inlineAgain, new SaveOptions { ExternalData = ExternalDataMode.Never });
        // Inline again, from external data, a tensor is written as raw_data (typed fields included).
        var inlineTensors = TensorsByName(ModelSerializer.Load(inlineAgain));
        foreach (var e in expected)
        {
            Assert.True(e.Bytes.AsSpan().SequenceEqual(BytesOf(inlineTensors[e.Name])), $"{e.Name}: bytes differ inline again");
            if (e.Large) Assert.True(Assert.IsType<ProtoTensorData>(inlineTensors[e.Name].Data).IsRaw, e.Name);
        }
    }

    [Fact]
    public void FromBytesReadsInPlaceFromTheArray()
    {
        var (proto, expected) = InlineModels.AllKinds();
        var bytes = proto.ToByteArray();
        var model = ModelSerializer.FromBytes(bytes, "kinds.onnx");
        var tensors = TensorsByName(model);
        foreach (var e in expected.Where(e => e.Large))
        {
            var data = Assert.IsType<ProtoTensorData>(tensors[e.Name].Data);
            Assert.IsType<MemorySource>(data.Payload!.Source);
            Assert.True(e.Bytes.AsSpan().SequenceEqual(BytesOf(tensors[e.Name])), e.Name);
        }
        Assert.Equal(bytes, ModelSerializer.ToBytes(model));
    }

    [Fact]
    public void AnInitializerWhoseTensorNameDiffersFromItsValueIsWrittenUnderTheValueName()
    {
        // The writer names an initializer after its value once the tensor's proto is built; the
        // bytes streamed into it must still land after the name (found by the differential fuzz).
        var (proto, expected) = InlineModels.AllKinds();
        var model = ModelSerializer.FromBytes(proto.ToByteArray(), "kinds.onnx");
        foreach (var v in model.Graph.Initializers) v.Initializer!.Name = v.Name + "_tensor_name_that_is_longer";
        var written = ModelSerializer.ToBytes(model);
        var back = TensorsByName(ModelSerializer.FromBytesParsedWhole(written, "back.onnx"));
        foreach (var e in expected)
            Assert.True(e.Bytes.AsSpan().SequenceEqual(BytesOf(back[e.Name])), $"{e.Name}: bytes differ after the save");
    }

    [Fact]
    public void TheWriterPlacesEachDataFieldAfterExactlyTheFieldsNumberedBelowIt()
    {
        // A TensorProto with every field set (and an unknown one), and for each data field the
        // size of what Google.Protobuf writes before it, taken from the message descriptor.
        var t = new TensorProto { DataType = 1, Name = "every field", RawData = ByteString.CopyFrom(1, 2, 3), DocString = "d", DataLocation = TensorProto.Types.DataLocation.Default };
        t.Dims.AddRange([2, 3]);
        t.Segment = new TensorProto.Types.Segment { Begin = 1, End = 2 };
        t.FloatData.AddRange([1f, 2f]);
        t.Int32Data.AddRange([-1, 3]);
        t.StringData.Add(ByteString.CopyFromUtf8("s"));
        t.Int64Data.AddRange([-5L, 6L]);
        t.DoubleData.Add(2.5);
        t.Uint64Data.Add(ulong.MaxValue);
        t.ExternalData.Add(new StringStringEntryProto { Key = "k", Value = "v" });
        t.MetadataProps.Add(new StringStringEntryProto { Key = "m", Value = "n" });
        t = TensorProto.Parser.ParseFrom([.. t.ToByteArray(), 0xF8, 0x06, 0x01]); // + unknown field 111
        foreach (int field in new[] { 4, 5, 7, 9, 10, 11 })
        {
            var head = new TensorProto();
            foreach (var f in TensorProto.Descriptor.Fields.InFieldNumberOrder().Where(f => f.FieldNumber < field))
            {
                if (f.IsRepeated) { var into = (System.Collections.IList)f.Accessor.GetValue(head); foreach (var x in (System.Collections.IList)f.Accessor.GetValue(t)) into.Add(x); }
                else if (f.Accessor.HasValue(t)) f.Accessor.SetValue(head, f.Accessor.GetValue(t));
            }
            Assert.Equal(head.CalculateSize(), SplicingWriter.HeadSize(t, field));
            // And those bytes are where the message starts.
            Assert.Equal(head.ToByteArray(), t.ToByteArray()[..head.CalculateSize()]);
        }
    }

    /// <summary>Bytes of a protobuf field, written by hand so a test can spell what Google.Protobuf would not write.</summary>
    private static class W
    {
        public static byte[] Varint(ulong v)
        {
            var b = new List<byte>();
            while (v >= 0x80) { b.Add((byte)(v | 0x80)); v >>= 7; }
            b.Add((byte)v);
            return b.ToArray();
        }
        public static byte[] Tag(int field, int wireType) => Varint((ulong)((field << 3) | wireType));
        public static byte[] Field(int field, params byte[][] body)
        {
            var payload = body.SelectMany(x => x).ToArray();
            return [.. Tag(field, 2), .. Varint((ulong)payload.Length), .. payload];
        }
        public static byte[] VarintField(int field, ulong v) => [.. Tag(field, 0), .. Varint(v)];
        public static byte[] Str(int field, string s) => Field(field, System.Text.Encoding.UTF8.GetBytes(s));
        public static byte[] Floats(int count, int seed) => Enumerable.Range(0, count).SelectMany(i => BitConverter.GetBytes(i * 0.5f + seed)).ToArray();

        /// <summary>A model: graph with input x, the given initializers/nodes (already encoded graph fields), output named <paramref name="output"/>.</summary>
        public static byte[] Model(string output, params byte[][] graphFields)
        {
            var graph = Field(7, [.. graphFields.SelectMany(x => x), .. Str(2, "g"), .. Field(11, Str(1, "x")), .. Field(12, Str(1, output))]);
            return [.. VarintField(1, 8), .. graph, .. Field(8, [.. Str(1, ""), .. VarintField(2, 17)])];
        }

        public static byte[] Identity(string input, string output) => Field(1, [.. Str(1, input), .. Str(2, output), .. Str(4, "Identity")]);
    }

    /// <summary>Files Google.Protobuf reads but would not write this way: in-place reading must read them the same.</summary>
    public static TheoryData<string> UnusualLayouts() =>
        ["fields out of order with unknown fields", "singular attribute t twice", "packed float_data in two pieces",
         "raw_data and float_data both large", "non-canonical varints", "int32 negatives in five bytes", "graph field twice"];

    private static byte[] Unusual(string name, out bool readInPlace)
    {
        byte[] dims(long n) => W.VarintField(1, (ulong)n);
        readInPlace = true;
        switch (name)
        {
            case "fields out of order with unknown fields":
                // raw_data first, then an unknown varint field 99, a wire-type mismatch on field 3, then name and type.
                return W.Model("y", W.Field(5, [.. W.Field(9, W.Floats(300, 1)), .. W.VarintField(99, 5), .. W.VarintField(3, 1), .. W.Str(8, "w"), .. W.VarintField(2, 1), .. dims(300)]),
                    W.Identity("w", "y"));
            case "singular attribute t twice":
                // The parser merges the two t messages: raw_data of the first, name of the second.
                readInPlace = false;
                var t1 = W.Field(5, [.. dims(400), .. W.VarintField(2, 1), .. W.Field(9, W.Floats(400, 2))]);
                var t2 = W.Field(5, W.Str(8, "merged"));
                return W.Model("y", W.Field(1, [.. W.Str(2, "y"), .. W.Str(4, "Constant"), .. W.Field(5, [.. W.Str(1, "value"), .. W.VarintField(20, 4), .. t1, .. t2])]));
            case "packed float_data in two pieces":
                readInPlace = false;
                return W.Model("y", W.Field(5, [.. dims(600), .. W.VarintField(2, 1), .. W.Str(8, "w"), .. W.Field(4, W.Floats(300, 3)), .. W.Field(4, W.Floats(300, 4))]), W.Identity("w", "y"));
            case "raw_data and float_data both large":
                readInPlace = false;
                return W.Model("y", W.Field(5, [.. dims(300), .. W.VarintField(2, 1), .. W.Str(8, "w"), .. W.Field(4, W.Floats(300, 5)), .. W.Field(9, W.Floats(300, 6))]), W.Identity("w", "y"));
            case "non-canonical varints":
                // int64_data whose zeros are spelled in three bytes (0x80 0x80 0x00), ones in two.
                var ints = Enumerable.Range(0, 600).SelectMany(i => i % 2 == 0 ? new byte[] { 0x80, 0x80, 0x00 } : new byte[] { 0x81, 0x00 }).ToArray();
                return W.Model("y", W.Field(5, [.. dims(600), .. W.VarintField(2, 7), .. W.Str(8, "w"), .. W.Field(7, ints)]), W.Identity("w", "y"));
            case "int32 negatives in five bytes":
                // -1 as a 32-bit varint (0xFF 0xFF 0xFF 0xFF 0x0F): Google.Protobuf reads int32 from the low 32 bits.
                var neg = Enumerable.Range(0, 600).SelectMany(i => i % 3 == 0 ? new byte[] { 0xFF, 0xFF, 0xFF, 0xFF, 0x0F } : W.Varint((ulong)i)).ToArray();
                return W.Model("y", W.Field(5, [.. dims(600), .. W.VarintField(2, 6), .. W.Str(8, "w"), .. W.Field(5, neg)]), W.Identity("w", "y"));
            case "graph field twice":
                // Two graph fields merge into one graph: the walker leaves them to the parser.
                readInPlace = false;
                var first = W.Model("y", W.Field(5, [.. dims(300), .. W.VarintField(2, 1), .. W.Str(8, "w"), .. W.Field(9, W.Floats(300, 7))]), W.Identity("w", "y"));
                return [.. first, .. W.Field(7, W.Field(5, [.. dims(300), .. W.VarintField(2, 1), .. W.Str(8, "w2"), .. W.Field(9, W.Floats(300, 8))]))];
            default: throw new ArgumentException(name);
        }
    }

    [Theory]
    [MemberData(nameof(UnusualLayouts))]
    public void UnusualLayoutsReadAsTheParserReadsThem(string layout)
    {
        var bytes = Unusual(layout, out bool readInPlace);
        var model = ModelSerializer.FromBytes(bytes, "m.onnx");
        var reference = ModelSerializer.FromBytesParsedWhole(bytes, "m.onnx");
        Assert.Equal(ModelSerializer.ToProto(reference).ToByteArray(), ModelSerializer.ToProto(model).ToByteArray());
        // Written whole, the same bytes as the reference writes, except that a varint field left in
        // the file keeps the spelling it had (the values are the same, see below).
        if (layout is not ("non-canonical varints" or "int32 negatives in five bytes"))
            Assert.Equal(ModelSerializer.ToBytes(reference), ModelSerializer.ToBytes(model));
        Assert.Equal(readInPlace, model.AllTensors().Any(t => t.Data is ProtoTensorData { Payload: not null }));
        var refTensors = TensorsByName(reference);
        foreach (var t in model.AllTensors())
            Assert.True(BytesOf(refTensors[t.Name!]).AsSpan().SequenceEqual(BytesOf(t)), $"{layout}: tensor '{t.Name}' differs");
        // What is written reads back to the same values: a data field left in the file is copied as
        // it was spelled (non-canonical varints included), which the parser reads as the same values.
        var again = ModelSerializer.FromBytes(ModelSerializer.ToBytes(model), "again.onnx");
        Assert.Equal(ModelSerializer.ToProto(reference).ToByteArray(), ModelSerializer.ToProto(again).ToByteArray());
    }

    /// <summary>Broken around a large data field: refused with the parser's reason, in one line naming the file.</summary>
    public static TheoryData<string> BrokenLayouts() =>
        ["raw_data longer than its tensor", "tensor longer than its graph", "cut inside raw_data", "float_data not whole floats",
         "int32_data ends inside a varint", "int64_data with an eleven-byte varint", "raw_data length as a six-byte varint"];

    [Theory]
    [MemberData(nameof(BrokenLayouts))]
    public void BrokenLengthsAroundLargeFieldsAreRefusedInOneLine(string layout)
    {
        byte[] dims(long n) => W.VarintField(1, (ulong)n);
        byte[] Tensor(params byte[][] fields) => W.Field(5, [.. dims(300), .. W.VarintField(2, 1), .. W.Str(8, "w"), .. fields.SelectMany(f => f)]);
        var floats = W.Floats(300, 1);
        byte[] bytes = layout switch
        {
            // The length of raw_data claims 1,300 bytes; the tensor holds 1,200 of them, then the file goes on.
            "raw_data longer than its tensor" => W.Model("y", Tensor([.. W.Tag(9, 2), .. W.Varint(1300), .. floats]), W.Identity("w", "y")),
            "tensor longer than its graph" => Splice(W.Model("y", Tensor(W.Field(9, floats)), W.Identity("w", "y")), grow: 5),
            "cut inside raw_data" => W.Model("y", Tensor(W.Field(9, floats)), W.Identity("w", "y"))[..700],
            "float_data not whole floats" => W.Model("y", Tensor(W.Field(4, [.. floats, 1, 2])), W.Identity("w", "y")),
            "int32_data ends inside a varint" => W.Model("y", W.Field(5, [.. dims(1100), .. W.VarintField(2, 6), .. W.Str(8, "w"), .. W.Field(5, [.. Enumerable.Repeat((byte)1, 1099), 0x81])]), W.Identity("w", "y")),
            "int64_data with an eleven-byte varint" => W.Model("y", W.Field(5, [.. dims(1001), .. W.VarintField(2, 7), .. W.Str(8, "w"), .. W.Field(7, [.. Enumerable.Repeat((byte)1, 1000), .. Enumerable.Repeat((byte)0xFF, 10), 0x01])]), W.Identity("w", "y")),
            "raw_data length as a six-byte varint" => W.Model("y", Tensor([.. W.Tag(9, 2), 0xB0, 0x89, 0x80, 0x80, 0x80, 0x00, .. floats]), W.Identity("w", "y")),
            _ => throw new ArgumentException(layout),
        };
        var referenceError = Record.Exception(() => ModelSerializer.FromBytesParsedWhole(bytes, "broken.onnx"));
        var error = Record.Exception(() => ModelSerializer.FromBytes(bytes, "broken.onnx"));
        if (layout == "raw_data length as a six-byte varint")
        {
            // Google.Protobuf reads a 32-bit length from up to ten bytes; the walker leaves this spelling to it.
            Assert.Null(referenceError);
            Assert.Null(error);
            return;
        }
        Assert.IsType<ModelFormatException>(referenceError);
        var e = Assert.IsType<ModelFormatException>(error);
        Assert.Equal(referenceError.Message, e.Message);
        Assert.StartsWith("broken.onnx: ", e.Message);
        Assert.DoesNotContain('\n', e.Message);
        output.WriteLine($"{layout}: {e.Message}");

        // The same through the file path (mapped file, not an array).
        using var dir = new TempDir("broken");
        var path = dir.File("broken.onnx");
        File.WriteAllBytes(path, bytes);
        var fromFile = Assert.Throws<ModelFormatException>(() => ModelSerializer.Load(path));
        Assert.Equal(referenceError.Message.Replace("broken.onnx", path), fromFile.Message);
    }

    /// <summary>The model with the graph's first initializer's length grown by <paramref name="grow"/> (a length that lies).</summary>
    private static byte[] Splice(byte[] model, int grow)
    {
        // Layout from W.Model: ir_version (2 bytes), graph tag, graph length, then the initializer's tag and length.
        int pos = 2;
        pos++; // graph tag
        while (model[pos] >= 0x80) pos++;
        pos++;
        pos++; // initializer tag
        int lengthAt = pos;
        ulong len = 0; int shift = 0;
        while (true) { byte b = model[pos++]; len |= (ulong)(b & 0x7F) << shift; shift += 7; if (b < 0x80) break; }
        var grown = W.Varint(len + (ulong)grow);
        Assert.Equal(pos - lengthAt, grown.Length);
        var copy = (byte[])model.Clone();
        grown.CopyTo(copy, lengthAt);
        return copy;
    }

    [Fact]
    public void LoadingAnInlineModelAllocatesFarLessThanItsTensorBytes()
    {
        using var dir = new TempDir("inline-alloc");
        var path = dir.File("large.onnx");
        long fileBytes = InlineModels.WriteLargeRaw(path, 200);
        Assert.True(fileBytes > 200_000_000, $"the model is {fileBytes:N0} bytes");

        ModelSerializer.Load(path); // warm up: the JIT and the protobuf descriptors allocate once
        long before = GC.GetAllocatedBytesForCurrentThread();
        var model = ModelSerializer.Load(path);
        long loading = GC.GetAllocatedBytesForCurrentThread() - before;

        var weights = model.Graph.Initializers.Select(v => v.Initializer!).ToList();
        Assert.Equal(50, weights.Count);
        Assert.All(weights, w => Assert.NotNull(Assert.IsType<ProtoTensorData>(w.Data).Payload));
        // Values are right: spot-check a tensor in the middle against the generator's formula.
        var w25 = weights.Single(w => w.Name == "w25").ToArray<float>();
        Assert.Equal(1 << 20, w25.Length);
        for (int j = 0; j < w25.Length; j += 4099) Assert.Equal(InlineModels.WeightValue(25, j), w25[j]);

        // Writing it inline again streams the bytes: no model-sized buffer either.
        var copy = dir.File("copy.onnx");
        before = GC.GetAllocatedBytesForCurrentThread();
        var saved = ModelSerializer.Save(model, copy, new SaveOptions { ExternalData = ExternalDataMode.Never });
        long saving = GC.GetAllocatedBytesForCurrentThread() - before;
        output.WriteLine($"model {fileBytes:N0} bytes: loading allocated {loading:N0} bytes, saving {saving:N0}");
        Assert.True(loading < 20_000_000, $"loading a {fileBytes:N0}-byte inline model allocated {loading:N0} bytes");
        Assert.True(saving < 20_000_000, $"saving a {fileBytes:N0}-byte inline model allocated {saving:N0} bytes");
        Assert.Equal(fileBytes, saved.ModelBytes);
        Assert.Equal(SHA256.HashData(File.ReadAllBytes(path)), SHA256.HashData(File.ReadAllBytes(copy)));
    }

    [Fact]
    public void ALoadedModelKeepsReadingItsFileWhenThePathIsReplacedOrDeleted()
    {
        var (proto, expected) = InlineModels.AllKinds();
        using var dir = new TempDir("inline-life");
        var path = dir.File("model.onnx");
        Protos.Write(proto, path);
        var original = File.ReadAllBytes(path);
        var model = ModelSerializer.Load(path);

        // Another file renamed onto the input's name (as a tool writing "model.onnx" atomically does),
        // then the name removed altogether: the loaded model still reads the bytes it was loaded from.
        var other = dir.File("other.onnx");
        File.WriteAllBytes(other, Protos.Tiny().ToByteArray());
        File.Move(other, path, overwrite: true);
        var tensors = TensorsByName(model);
        foreach (var e in expected) Assert.True(e.Bytes.AsSpan().SequenceEqual(BytesOf(tensors[e.Name])), e.Name);
        File.Delete(path);
        var copy = dir.File("copy.onnx");
        ModelSerializer.Save(model, copy, new SaveOptions { ExternalData = ExternalDataMode.Never });
        Assert.Equal(original, File.ReadAllBytes(copy));

        // A tensor moved into a model built in memory still counts as read from that file: saving
        // over the file is refused even though the new model was never loaded from it.
        var source = ModelSerializer.Load(copy);
        var g = new Graph { Name = "built" };
        var built = new Model(g) { IrVersion = 8 };
        built.OpsetImports.Add(new OpsetId("", 17));
        var w = source.Graph.Initializers.First(v => v.Initializer!.ByteLength >= 1024).Initializer!;
        var v = g.AddInitializer(w, w.Name);
        g.Outputs.Add(g.Append(new Node("", "Identity", [v], 1)).Output());
        var refused = Assert.Throws<TernionException>(() => ModelSerializer.Save(built, copy));
        Assert.Contains("which the model was read from", refused.Message);
        Assert.Equal(original, File.ReadAllBytes(copy));
    }
}
