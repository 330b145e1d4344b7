using System.Security.Cryptography;
using System.Text;
using Google.Protobuf;
using Ternion.IR;
using Ternion.IR.Onnx;
using Ternion.Robustness.Tests.Harness;
using Ternion.TestSupport;
using Xunit.Abstractions;

namespace Ternion.Robustness.Tests;

/// <summary>
/// The hostile corpus: every malformed input the threat model names, generated here (no binary
/// fixtures), each run through inspect, convert and compile. Every run must end with exit code 2,
/// one stderr line naming the file and the problem, no stack trace, no output or temporary file,
/// the input untouched, within a bounded time and a bounded number of allocated bytes.
/// </summary>
public class MalformedCorpusTests(ITestOutputHelper log)
{
    /// <summary>One hostile input: how to make it, and what the one-line error must say.</summary>
    public sealed record Case(string Name, Func<TempDir, string> Build, string[] Fragments)
    {
        /// <summary>Commands to run; each is refused. inspect and convert read any op opaquely, so op-level cases list compile alone.</summary>
        public string[] Commands { get; init; } = ["inspect", "convert", "compile"];
        public string[] Targets { get; init; } = ["fallback"];
    }

    /// <summary>Managed bytes a refusal may allocate beyond a small multiple of the input's size.</summary>
    private const long AllocationAllowance = 96L << 20;
    private static readonly TimeSpan TimeAllowance = TimeSpan.FromSeconds(20);

    private static string Save(TempDir dir, ModelProto m, string name = "model.onnx")
    {
        var p = dir.File(name);
        Protos.Write(m, p);
        return p;
    }

    private static string Bytes(TempDir dir, byte[] b, string name = "model.onnx")
    {
        var p = dir.File(name);
        File.WriteAllBytes(p, b);
        return p;
    }

    private static byte[] Random(int seed, int length)
    {
        var b = new byte[length];
        new Random(seed).NextBytes(b);
        return b;
    }

    private static ModelProto Tiny(Action<ModelProto> edit)
    {
        var m = Protos.Tiny();
        edit(m);
        return m;
    }

    public static readonly IReadOnlyList<Case> All = Build();

    private static List<Case> Build()
    {
        var cases = new List<Case>
        {
            // ---- not a model at all
            new("empty file", d => Bytes(d, []), ["empty"]),
            new("one zero byte", d => Bytes(d, [0]), ["not"]),
            new("random 1 byte", d => Bytes(d, [0x0A]), ["not"]),
            new("random 64 bytes", d => Bytes(d, Random(1, 64)), ["not"]),
            new("random 4 KiB", d => Bytes(d, Random(2, 4096)), ["not"]),
            new("random 1 MiB", d => Bytes(d, Random(3, 1 << 20)), ["not"]),
            new("a text file", d => Bytes(d, Encoding.UTF8.GetBytes("{\"model\": \"this is JSON, not ONNX\"}\n")), ["not"]),
            new("a zip archive header (a PyTorch checkpoint)", d => Bytes(d, [0x50, 0x4B, 0x03, 0x04, 0x14, 0, 0, 0, 8, 0]), ["not"]),
            new("a length prefix claiming 2 GiB", d => Bytes(d, [0x3A, 0xFF, 0xFF, 0xFF, 0xFF, 0x07, 0x0A]), ["not a valid ONNX model"]),
            new("only ir_version, no graph", d => Save(d, new ModelProto { IrVersion = 8 }), ["no graph"]),
            new("a folder named like a model", d => { Directory.CreateDirectory(d.File("model.onnx")); return d.File("model.onnx"); }, ["folder"]),

            // ---- names that mean nothing, or two things
            new("undefined node input", d => Save(d, Tiny(m => m.Graph.Node[0].Input[0] = "nobody")), ["'nobody'", "not defined"]),
            new("undefined graph output", d => Save(d, Tiny(m => m.Graph.Output[0].Name = "ghost")), ["'ghost'", "not produced"]),
            new("subgraph reads an undefined name", d =>
            {
                var g = ModelProtos.WithCondition("main");
                g.Node.Add(ModelProtos.If("c", "y", ModelProtos.Branch("then", "nowhere", "t"), ModelProtos.Branch("else", "x", "e")));
                return Save(d, Protos.Wrap(g));
            }, ["'nowhere'", "not defined"]),
            new("node reads a value local to a sibling's subgraph", d =>
            {
                var g = ModelProtos.WithCondition("main");
                g.Node.Add(ModelProtos.If("c", "i", ModelProtos.Branch("then", "x", "inner"), ModelProtos.Branch("else", "x", "e")));
                g.Node.Add(Protos.Node("Add", ["i", "inner"], ["y"]));
                return Save(d, Protos.Wrap(g));
            }, ["'inner'", "not defined"]),
            new("function output produced by nothing", d => Save(d, Tiny(m =>
            {
                var f = new FunctionProto { Name = "F", Domain = "com.example" };
                f.Input.Add("a");
                f.Output.Add("b");
                f.OpsetImport.Add(new OperatorSetIdProto { Domain = "", Version = 17 });
                m.Functions.Add(f);
            })), ["'b'", "not produced"]),
            new("initializer defined twice", d => Save(d, Tiny(m =>
            {
                m.Graph.Initializer.Add(Protos.FloatTensor("w", [1], [1f]));
                m.Graph.Initializer.Add(Protos.FloatTensor("w", [1], [2f]));
            })), ["'w'", "defined twice"]),
            new("value produced by two nodes", d => Save(d, Tiny(m => m.Graph.Node.Add(Protos.Node("Relu", ["x"], ["y"])))), ["'y'", "produced twice"]),
            new("input declared twice", d => Save(d, Tiny(m => m.Graph.Input.Add(Protos.Float("x", 2, 3)))), ["'x'", "declared twice"]),
            new("node output shadows a graph input", d => Save(d, Tiny(m => m.Graph.Node.Add(Protos.Node("Relu", ["x"], ["x"])))), ["'x'", "produced twice"]),
            new("attribute given twice on one node", d => Save(d, Tiny(m =>
            {
                m.Graph.Node[0].Attribute.Add(ModelProtos.IntAttr("axis", 0));
                m.Graph.Node[0].Attribute.Add(ModelProtos.IntAttr("axis", 1));
            })), ["'axis'", "twice"]),

            // ---- cycles, including through and into subgraphs
            new("two-node cycle", d => Save(d, Tiny(m =>
            {
                m.Graph.Node.Clear();
                m.Graph.Node.Add(Protos.Node("Add", ["x", "b"], ["a"]));
                m.Graph.Node.Add(Protos.Node("Relu", ["a"], ["b"]));
                m.Graph.Node.Add(Protos.Node("Identity", ["a"], ["y"]));
            })), ["cycle"]),
            new("node reads its own output", d => Save(d, Tiny(m =>
            {
                m.Graph.Node.Clear();
                m.Graph.Node.Add(Protos.Node("Add", ["x", "a"], ["a"]));
                m.Graph.Node.Add(Protos.Node("Identity", ["a"], ["y"]));
            })), ["cycle"]),
            new("subgraph reads its own node's output", d =>
            {
                var g = ModelProtos.WithCondition("main");
                g.Node.Add(ModelProtos.If("c", "y", ModelProtos.Branch("then", "y", "t"), ModelProtos.Branch("else", "x", "e")));
                return Save(d, Protos.Wrap(g));
            }, ["cycle"]),
            new("subgraph returns its own node's output", d =>
            {
                // A branch may return an outer value; returning the If's own result makes the If depend on itself.
                var g = ModelProtos.WithCondition("main");
                var then = new GraphProto { Name = "then" };
                then.Output.Add(Protos.Float("y", 2, 3));
                g.Node.Add(ModelProtos.If("c", "y", then, ModelProtos.Branch("else", "x", "e")));
                return Save(d, Protos.Wrap(g));
            }, ["cycle"]),
            new("subgraph returns a value computed from its node's result", d =>
            {
                var g = ModelProtos.WithCondition("main");
                var then = new GraphProto { Name = "then" };
                then.Output.Add(Protos.Float("late", 2, 3));
                g.Node.Add(ModelProtos.If("c", "i", then, ModelProtos.Branch("else", "x", "e")));
                g.Node.Add(Protos.Node("Relu", ["i"], ["late"]));
                g.Node.Add(Protos.Node("Identity", ["late"], ["y"]));
                return Save(d, Protos.Wrap(g));
            }, ["cycle"]),
            new("cycle through a subgraph", d =>
            {
                // The If's branch reads 'late', which is computed from the If's own result.
                var g = ModelProtos.WithCondition("main");
                g.Node.Add(ModelProtos.If("c", "i", ModelProtos.Branch("then", "late", "t"), ModelProtos.Branch("else", "x", "e")));
                g.Node.Add(Protos.Node("Relu", ["i"], ["late"]));
                g.Node.Add(Protos.Node("Identity", ["late"], ["y"]));
                return Save(d, Protos.Wrap(g));
            }, ["cycle"]),
            new("function that calls itself", d => Save(d, Tiny(m =>
            {
                var f = new FunctionProto { Name = "F", Domain = "com.example" };
                f.Input.Add("a");
                f.Output.Add("b");
                f.Node.Add(Protos.Node("F", ["a"], ["b"], "com.example"));
                f.OpsetImport.Add(new OperatorSetIdProto { Domain = "com.example", Version = 1 });
                m.Functions.Add(f);
                m.OpsetImport.Add(new OperatorSetIdProto { Domain = "com.example", Version = 1 });
                m.Graph.Node[0] = Protos.Node("F", ["x"], ["y"], "com.example");
            })), ["com.example::F", "calls itself"]),
            new("functions that call each other", d => Save(d, Tiny(m =>
            {
                foreach (var (name, callee) in new[] { ("F", "G"), ("G", "F") })
                {
                    var f = new FunctionProto { Name = name, Domain = "com.example" };
                    f.Input.Add("a");
                    f.Output.Add("b");
                    f.Node.Add(Protos.Node(callee, ["a"], ["b"], "com.example"));
                    m.Functions.Add(f);
                }
                m.OpsetImport.Add(new OperatorSetIdProto { Domain = "com.example", Version = 1 });
                m.Graph.Node[0] = Protos.Node("F", ["x"], ["y"], "com.example");
            })), ["calls itself"]),

            // ---- opset imports
            new("node domain not imported", d => Save(d, Tiny(m => m.Graph.Node[0].Domain = "com.example")), ["com.example", "opset_import"]),
            new("no opset_import at all", d => Save(d, Tiny(m => m.OpsetImport.Clear())), ["ai.onnx", "opset_import"]),
            new("function body uses a domain nobody imports", d => Save(d, Tiny(m =>
            {
                var f = new FunctionProto { Name = "F", Domain = "com.example" };
                f.Input.Add("a");
                f.Output.Add("b");
                f.Node.Add(Protos.Node("Secret", ["a"], ["b"], "com.hidden"));
                m.Functions.Add(f);
            })), ["com.hidden", "opset_import"]),

            // ---- tensor sizes
            new("raw data shorter than dims", d => Save(d, Tiny(m => m.Graph.Initializer.Add(Protos.FloatTensor("w", [4, 4], new float[10])))), ["'w'", "shorter"]),
            new("raw data longer than dims", d => Save(d, Tiny(m => m.Graph.Initializer.Add(Protos.FloatTensor("w", [2], new float[3])))), ["'w'", "longer"]),
            new("float_data shorter than dims", d => Save(d, Tiny(m => m.Graph.Initializer.Add(ModelProtos.TypedFloats("w", [8], 3)))), ["'w'", "shorter"]),
            new("float_data longer than dims", d => Save(d, Tiny(m => m.Graph.Initializer.Add(ModelProtos.TypedFloats("w", [2], 5)))), ["'w'", "longer"]),
            new("fewer strings than dims", d => Save(d, Tiny(m =>
            {
                var t = new TensorProto { Name = "s", DataType = (int)DataType.String };
                t.Dims.Add(3);
                t.StringData.Add(ByteString.CopyFromUtf8("one"));
                m.Graph.Initializer.Add(t);
            })), ["'s'", "strings"]),
            new("dims overflow a 64-bit element count", d => Save(d, Tiny(m => m.Graph.Initializer.Add(Protos.FloatTensor("huge", [long.MaxValue / 2, 4], [0f])))), ["'huge'", "overflow"]),
            new("dims whose product wraps to a small number", d => Save(d, Tiny(m => m.Graph.Initializer.Add(Protos.FloatTensor("wrap", [1L << 32, 1L << 32, 1], [0f])))), ["'wrap'", "overflow"]),
            new("dims asking for terabytes", d => Save(d, Tiny(m => m.Graph.Initializer.Add(Protos.FloatTensor("tera", [1L << 20, 1L << 20], [0f])))), ["'tera'", "tensor limit"]),
            new("dims asking for terabytes, no data at all", d => Save(d, Tiny(m =>
            {
                var t = new TensorProto { Name = "tera", DataType = (int)DataType.Float };
                t.Dims.AddRange([1L << 20, 1L << 20]);
                m.Graph.Initializer.Add(t);
            })), ["'tera'", "tensor limit"]),
            new("negative dim", d => Save(d, Tiny(m => m.Graph.Initializer.Add(Protos.FloatTensor("neg", [-3], new float[3])))), ["'neg'", "negative"]),
            new("negative dim in a Constant's tensor", d => Save(d, Tiny(m =>
            {
                var c = Protos.Node("Constant", [], ["k"]);
                c.Attribute.Add(new AttributeProto { Name = "value", Type = AttributeProto.Types.AttributeType.Tensor, T = Protos.FloatTensor("k", [-1], [1f]) });
                m.Graph.Node.Add(c);
            })), ["'value'", "negative"]),
            new("terabytes in a tensor of a segment", d => Save(d, Tiny(m =>
            {
                // A legacy segment switches off the data-size check; the size limit must still hold.
                var t = ModelProtos.TypedFloats("seg", [1L << 20, 1L << 20], 4);
                t.Segment = new TensorProto.Types.Segment { Begin = 0, End = 4 };
                m.Graph.Initializer.Add(t);
            })), ["'seg'", "tensor limit"]),

            // ---- external data
            new("external data at an absolute path", d => Save(d, ModelProtos.ReadsInitializer(ModelProtos.External("w", [4], "/etc/passwd", "0", "16"))), ["'w'", "absolute"]),
            new("external data through '..'", d => Save(d, ModelProtos.ReadsInitializer(ModelProtos.External("w", [4], "../secret.bin", "0", "16"))), ["'w'", ".."]),
            new("external data through 'sub/../..'", d => Save(d, ModelProtos.ReadsInitializer(ModelProtos.External("w", [4], "sub/../../secret.bin", "0", "16"))), ["'w'", ".."]),
            new("external data through a symlink out of the folder", d =>
            {
                // The model sits in m/, the secret next to that folder.
                File.WriteAllBytes(d.File("secret.bin"), new byte[16]);
                Directory.CreateDirectory(d.File("m"));
                File.CreateSymbolicLink(d.File("m/link.bin"), d.File("secret.bin"));
                return Save(d, ModelProtos.ReadsInitializer(ModelProtos.External("w", [4], "link.bin", "0", "16")), "m/model.onnx");
            }, ["'w'", "outside the model's folder"]),
            new("external data through a symlinked folder out of the folder", d =>
            {
                File.CreateSymbolicLink(d.File("etc"), "/etc");
                return Save(d, ModelProtos.ReadsInitializer(ModelProtos.External("w", [4], "etc/passwd", "0", "16")));
            }, ["'w'", "outside the model's folder"]),
            new("external data past the end of the file", d =>
            {
                File.WriteAllBytes(d.File("w.bin"), new byte[100]);
                return Save(d, ModelProtos.ReadsInitializer(ModelProtos.External("w", [64], "w.bin", "0", "256")));
            }, ["'w'", "past the end"]),
            new("external data offset past the end of the file", d =>
            {
                File.WriteAllBytes(d.File("w.bin"), new byte[16]);
                return Save(d, ModelProtos.ReadsInitializer(ModelProtos.External("w", [4], "w.bin", long.MaxValue.ToString(), "16")));
            }, ["'w'", "past the end"]),
            new("external data shorter than dims", d =>
            {
                File.WriteAllBytes(d.File("w.bin"), new byte[64]);
                return Save(d, ModelProtos.ReadsInitializer(ModelProtos.External("w", [4], "w.bin", "0", "8")));
            }, ["'w'", "does not match"]),
            new("external data file missing", d => Save(d, ModelProtos.ReadsInitializer(ModelProtos.External("w", [4], "missing.bin", "0", "16"))), ["'w'", "does not exist"]),
            new("external data location is a folder", d =>
            {
                Directory.CreateDirectory(d.File("sub"));
                return Save(d, ModelProtos.ReadsInitializer(ModelProtos.External("w", [4], "sub", "0", "16")));
            }, ["'w'", "does not exist"]),
            new("external data offset is not a number", d => Save(d, ModelProtos.ReadsInitializer(ModelProtos.External("w", [4], "w.bin", "12abc", "16"))), ["'w'", "offset"]),
            new("external data length is negative", d => Save(d, ModelProtos.ReadsInitializer(ModelProtos.External("w", [4], "w.bin", "0", "-16"))), ["'w'", "length"]),
            new("external data location with a NUL", d => Save(d, ModelProtos.ReadsInitializer(ModelProtos.External("w", [4], "w.bin\0.txt", "0", "16"))), ["'w'", "NUL"]),
            new("external data without a location", d =>
            {
                var t = ModelProtos.External("w", [4], "w.bin", "0", "16");
                t.ExternalData.RemoveAt(0);
                return Save(d, ModelProtos.ReadsInitializer(t));
            }, ["'w'", "no 'location'"]),

            // ---- nesting
            new("subgraphs nested 1,000 levels", d => Save(d, ModelProtos.NestedIfs(1000)), ["nested deeper than 100"]),
            new("subgraphs nested 101 levels", d => Save(d, ModelProtos.NestedIfs(101)), ["nested deeper than 100"]),
            new("a type nested 100,000 levels", d =>
            {
                // value_info 'deep': sequence(sequence(...(float))), appended as a second graph field
                // (protobuf merges it into the first). Built at the wire level: no recursion here.
                var core = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = 1 } }.ToByteArray();
                var levels = Enumerable.Range(0, 100_000).SelectMany(_ => new[] { 1 /* Sequence.elem_type */, 4 /* TypeProto.sequence_type */ }).ToArray();
                var type = Wire.Nest(core, levels);
                var name = new ValueInfoProto { Name = "deep" }.ToByteArray();
                var valueInfo = Wire.Nest([.. name, .. Wire.Nest(type, [2 /* ValueInfoProto.type */])], [13 /* GraphProto.value_info */, 7 /* ModelProto.graph */]);
                return Bytes(d, [.. Protos.Tiny().ToByteArray(), .. valueInfo]);
            }, ["nested as deeply"]),
        };

        cases.AddRange(TernaryDecodeCases());
        cases.AddRange(MatMulNBitsCases());
        return cases;
    }

    /// <summary>
    /// TernaryDecode nodes are com.ternion ops: inspect and convert carry any op opaquely, so only
    /// compile must refuse them, and for every target (a kept node would ship a broken model).
    /// </summary>
    private static IEnumerable<Case> TernaryDecodeCases()
    {
        string[] compileOnly = ["compile"];
        string[] targets = ["fallback", "native", "folded", "ort-nbits"];
        Case Td(string name, Action<NodeProto, TensorProto, TensorProto> edit, params string[] fragments) =>
            new($"TernaryDecode: {name}", d => Save(d, ModelProtos.TernaryDecodeModel(edit)), ["TernaryDecode", .. fragments]) { Commands = compileOnly, Targets = targets };

        yield return Td("packed input too short for the shape", (n, p, s) => n.Attribute[0] = ModelProtos.IntsAttr("shape", 1280, 8), "'w.ttf1'", "needs");
        yield return Td("packed input of another type", (n, p, s) => p.DataType = (int)DataType.Int8, "'w.ttf1'", "not uint8");
        yield return Td("shape that overflows", (n, p, s) => n.Attribute[0] = ModelProtos.IntsAttr("shape", 1L << 40, 1L << 40), "too large");
        yield return Td("negative shape", (n, p, s) => n.Attribute[0] = ModelProtos.IntsAttr("shape", -640, 8), "negative");
        yield return Td("no shape attribute", (n, p, s) => n.Attribute.RemoveAt(0), "'shape'");
        yield return Td("axis outside the shape", (n, p, s) => n.Attribute[1] = ModelProtos.IntAttr("axis", 5), "axis 5");
        yield return Td("block size 100", (n, p, s) => n.Attribute[2] = ModelProtos.IntAttr("block_size", 100), "block_size 100");
        yield return Td("scale of the wrong length", (n, p, s) => { s.Dims.Clear(); s.Dims.Add(3); s.RawData = ByteString.CopyFrom(new byte[12]); }, "'w.scale'");
        yield return Td("a reserved byte (243)", (n, p, s) => SetByte(p, 70, 243), "'w.ttf1'", "243", "reserved");
        yield return Td("a reserved byte (255)", (n, p, s) => SetByte(p, 0, 255), "'w.ttf1'", "255", "reserved");
    }

    /// <summary>
    /// A MatMulNBits whose quantized weight does not fit its attributes: no packing may guess at the
    /// layout, so compile refuses it naming the node, for every target.
    /// </summary>
    private static IEnumerable<Case> MatMulNBitsCases()
    {
        string[] compileOnly = ["compile"];
        string[] targets = ["fallback", "native", "folded", "ort-nbits"];
        Case Nb(string name, Action<NodeProto, TensorProto, TensorProto, TensorProto> edit, params string[] fragments) =>
            new($"MatMulNBits: {name}", d => Save(d, ModelProtos.MatMulNBitsModel(edit)), ["MatMulNBits", "'layer0.q_proj'", .. fragments]) { Commands = compileOnly, Targets = targets };

        yield return Nb("blob shorter than K, N and bits need", (n, b, s, z) => n.Attribute[0] = ModelProtos.IntAttr("K", 96), "'w.qweight'", "need [16,3,16]");
        yield return Nb("N larger than the blob", (n, b, s, z) => n.Attribute[1] = ModelProtos.IntAttr("N", 17), "'w.qweight'", "need");
        yield return Nb("bits disagreeing with the blob", (n, b, s, z) => n.Attribute[2] = ModelProtos.IntAttr("bits", 2), "'w.qweight'", "need");
        yield return Nb("block_size not a power of two", (n, b, s, z) => n.Attribute[3] = ModelProtos.IntAttr("block_size", 24), "block_size 24");
        yield return Nb("K of zero", (n, b, s, z) => n.Attribute[0] = ModelProtos.IntAttr("K", 0), "must be positive");
        yield return Nb("one scale too few", (n, b, s, z) => { s.Dims[0] = 31; s.RawData = ByteString.CopyFrom(new byte[31 * 4]); }, "'w.scales'", "need 32");
        yield return Nb("zero points of the wrong length", (n, b, s, z) => { z.Dims[0] = 3; z.RawData = ByteString.CopyFrom(new byte[3]); }, "'w.qzeros'", "need 16");
    }

    private static void SetByte(TensorProto p, int offset, byte value)
    {
        var b = p.RawData.ToByteArray();
        b[offset] = value;
        p.RawData = ByteString.CopyFrom(b);
    }

    public static IEnumerable<object[]> Names => All.Select(c => new object[] { c.Name });

    [Theory]
    [MemberData(nameof(Names))]
    public void IsRefusedWithOneLine(string name)
    {
        var c = All.Single(x => x.Name == name);
        using var dir = new TempDir("corpus");
        var model = c.Build(dir);
        var folder = Path.GetDirectoryName(model)!;
        var inputs = Directory.EnumerateFileSystemEntries(folder).Select(p => Path.GetFileName(p)).ToArray();
        var before = Fingerprint(dir.Path);
        long inputBytes = File.Exists(model) ? new FileInfo(model).Length : 0;
        var output = Path.Combine(folder, "out.onnx");
        foreach (var command in c.Commands)
            foreach (var target in command == "compile" ? c.Targets : [""])
            {
                string[] args = command switch
                {
                    "inspect" => ["inspect", model],
                    "convert" => ["convert", model, "-o", output],
                    _ => ["compile", model, "-o", output, "--target", target],
                };
                var r = CliHarness.Run(args);
                log.WriteLine(r.ToString());
                Expect.Refused(r, Path.GetFileName(model), c.Fragments);
                Assert.True(r.Elapsed < TimeAllowance, $"too slow: {r}");
                Assert.True(r.AllocatedBytes < AllocationAllowance + 8 * inputBytes, $"allocated too much: {r}");
                Expect.FolderHolds(folder, inputs);
                Assert.Equal(before, Fingerprint(dir.Path));
            }
    }

    /// <summary>The cases that would cost the most memory if a check were missing (huge dims, deep nesting, large random input).</summary>
    public static TheoryData<string> MemoryBombs => new()
    {
        "dims asking for terabytes, no data at all", "terabytes in a tensor of a segment", "dims overflow a 64-bit element count",
        "subgraphs nested 1,000 levels", "a type nested 100,000 levels", "random 1 MiB", "TernaryDecode: shape that overflows",
    };

    [Theory]
    [MemberData(nameof(MemoryBombs))]
    public void IsRefusedUnderAHardHeapLimit(string name)
    {
        // The real CLI in a process of its own whose GC heap cannot pass 256 MiB: a refusal that
        // needed more would end in "out of memory" instead of the file's problem.
        var c = All.Single(x => x.Name == name);
        using var dir = new TempDir("heap");
        var model = c.Build(dir);
        string[] args = c.Commands.Contains("inspect") ? ["inspect", model] : ["compile", model, "-o", dir.File("out.onnx"), "--target", "native"];
        var r = CliHarness.RunProcess(TimeSpan.FromSeconds(60), 256L << 20, null, args);
        log.WriteLine(r.ToString());
        Expect.Refused(r, Path.GetFileName(model), c.Fragments);
    }

    /// <summary>Names and contents of the files under a folder (symbolic links are listed, not followed).</summary>
    internal static string Fingerprint(string dir)
    {
        var sb = new StringBuilder();
        void Walk(string d)
        {
            foreach (var e in Directory.EnumerateFileSystemEntries(d).Order(StringComparer.Ordinal))
            {
                var info = new FileInfo(e);
                if (info.LinkTarget is not null) sb.Append(e).Append(" -> ").Append(info.LinkTarget).Append('\n');
                else if (Directory.Exists(e)) Walk(e);
                else sb.Append(e).Append(' ').Append(Convert.ToHexString(SHA256.HashData(File.ReadAllBytes(e)))).Append('\n');
            }
        }
        Walk(dir);
        return sb.ToString();
    }
}
