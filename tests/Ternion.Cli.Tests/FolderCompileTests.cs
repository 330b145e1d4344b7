using System.Text.Json;
using System.Text.Json.Nodes;
using Google.Protobuf;
using Ternion.Backends;
using Ternion.Backends.Verification;
using Ternion.IR;
using Ternion.IR.Onnx;
using Ternion.IR.Serialization;
using Ternion.TestSupport;

namespace Ternion.Cli.Tests;

/// <summary>
/// `ternion compile DIR -o OUTDIR` on exporters' folders: every model compiled and still computing
/// what it did (on ONNX Runtime), every other file carried over byte for byte, data file names and
/// genai_config.json kept valid, all or nothing.
/// </summary>
public class FolderCompileTests : IDisposable
{
    private readonly TempDir _dir = new("folders");
    public void Dispose() => _dir.Dispose();

    /// <summary>The sample's FlexAttention-free twin: ONNX Runtime runs it, 14 ternary weights in it.</summary>
    private static string Reference => Path.Combine(Paths.TestData, "bitnet-tiny", "reference.onnx");
    private static string Inputs => Path.Combine(Paths.TestData, "bitnet-tiny", "test_data_set_0");

    private static readonly Dictionary<string, string> TokenizerFiles = new()
    {
        ["tokenizer.json"] = """{"version":"1.0","model":{"type":"BPE","vocab":{"a":0,"b":1}}}""",
        ["tokenizer_config.json"] = """{"model_max_length":2048,"tokenizer_class":"PreTrainedTokenizerFast"}""",
        ["special_tokens_map.json"] = """{"bos_token":"<s>","eos_token":"</s>"}""",
    };

    private string Folder(string name, params (string File, string Text)[] extra)
    {
        string dir = Path.Combine(_dir.Path, name);
        Directory.CreateDirectory(dir);
        foreach (var (f, t) in TokenizerFiles) File.WriteAllText(Path.Combine(dir, f), t);
        foreach (var (f, t) in extra) File.WriteAllText(Path.Combine(dir, f), t);
        return dir;
    }

    /// <summary>The reference model saved into a folder with all weights in one data file of the given name.</summary>
    private static void SaveWithData(string path, string dataFileName) =>
        ModelSerializer.Save(ModelSerializer.Load(Reference), path, new SaveOptions { ExternalData = ExternalDataMode.Always, DataFileName = dataFileName });

    private static void AssertSameFiles(string input, string output, IEnumerable<string> files)
    {
        foreach (var f in files)
            Assert.True(File.ReadAllBytes(Path.Combine(input, f)).AsSpan().SequenceEqual(File.ReadAllBytes(Path.Combine(output, f))), $"{f} changed");
    }

    private static void AssertComputesTheSame(string original, string compiled)
    {
        var r = ModelVerifier.Verify(original, compiled, new VerifyOptions { InputsDirectory = Inputs, Rtol = 1e-4, Atol = 1e-5 });
        Assert.True(r.Ok, $"{compiled}: {string.Join("; ", r.Outputs.Select(o => o.ToString()))}");
    }

    [Fact]
    public void AHuggingFaceHubCacheSnapshotCompilesAsAFileAndAsAFolder()
    {
        // snapshot_download's layout: every file of snapshots/REV/ is a link into blobs/, named by hash.
        string repo = Path.Combine(_dir.Path, "models--org--bitnet");
        string blobs = Path.Combine(repo, "blobs"), snapshot = Path.Combine(repo, "snapshots", "0123abc");
        Directory.CreateDirectory(blobs);
        Directory.CreateDirectory(snapshot);
        SaveWithData(Path.Combine(blobs, "m.onnx"), "model.onnx_data");
        var blobOf = new Dictionary<string, string> { ["model.onnx"] = "m.onnx", ["model.onnx_data"] = "model.onnx_data" };
        File.WriteAllText(Path.Combine(blobs, "cfg"), """{"model_type":"bitnet"}""");
        blobOf["config.json"] = "cfg";
        foreach (var (name, blob) in blobOf)
        {
            string hashed = Path.Combine(blobs, Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(name))));
            File.Move(Path.Combine(blobs, blob), hashed);
            File.CreateSymbolicLink(Path.Combine(snapshot, name), Path.Combine("..", "..", "blobs", Path.GetFileName(hashed)));
        }
        string model = Path.Combine(snapshot, "model.onnx");

        // One model file.
        string single = Path.Combine(_dir.Path, "single.onnx");
        var r = CliRunner.Run("compile", model, "-o", single, "--target", "native");
        Assert.True(r.ExitCode == 0, r.ToString());
        Assert.Contains("14 ternary weight(s) packed", r.Stdout);
        AssertComputesTheSame(model, single);

        // The whole snapshot folder: real files out (never links back into the cache), same names.
        string output = Path.Combine(_dir.Path, "compiled");
        r = CliRunner.Run("compile", snapshot, "-o", output);
        Assert.True(r.ExitCode == 0, r.ToString());
        Assert.Equal(["config.json", "model.onnx", "model.onnx_data"], Directory.GetFiles(output).Select(Path.GetFileName).Order(StringComparer.Ordinal));
        foreach (var f in Directory.GetFiles(output)) Assert.Null(new FileInfo(f).LinkTarget);
        Assert.Equal(File.ReadAllText(Path.Combine(snapshot, "config.json")), File.ReadAllText(Path.Combine(output, "config.json")));
        AssertComputesTheSame(model, Path.Combine(output, "model.onnx"));
        // The cache is as it was.
        Assert.Equal(3, Directory.GetFiles(blobs).Length);
        foreach (var name in blobOf.Keys) Assert.NotNull(new FileInfo(Path.Combine(snapshot, name)).LinkTarget);
    }

    [Fact]
    public void AnOptimumDecoderFolderCompilesEveryModelAndCopiesTheRest()
    {
        var input = Folder("optimum", ("config.json", """{"model_type":"llama","vocab_size":256}"""), ("generation_config.json", """{"bos_token_id":1}"""));
        SaveWithData(Path.Combine(input, "decoder_model.onnx"), "decoder_model.onnx_data");
        SaveWithData(Path.Combine(input, "decoder_with_past_model.onnx"), "decoder_with_past_model.onnx_data");
        var output = Path.Combine(_dir.Path, "out", "optimum-ternary"); // neither folder exists yet

        var r = CliRunner.Run("compile", input + "/", "-o", output + "/"); // as a shell completes folder names
        Assert.True(r.ExitCode == 0, r.Stderr);
        var lines = r.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(3, lines.Length); // one per model and the total
        Assert.StartsWith("decoder_model.onnx (+ decoder_model.onnx_data): 14 ternary weight(s) packed", lines[0]);
        Assert.StartsWith("decoder_with_past_model.onnx (+ decoder_with_past_model.onnx_data): 14 ternary weight(s) packed", lines[1]);
        Assert.StartsWith("total: 2 model(s) compiled for fallback, 28 ternary weight(s) packed", lines[2]);
        Assert.Contains("5 other file(s) copied", lines[2]);

        var others = new[] { "config.json", "generation_config.json", "special_tokens_map.json", "tokenizer.json", "tokenizer_config.json" };
        Assert.Equal(others.Concat(["decoder_model.onnx", "decoder_model.onnx_data", "decoder_with_past_model.onnx", "decoder_with_past_model.onnx_data"]).Order(StringComparer.Ordinal),
            Directory.GetFiles(output).Select(Path.GetFileName).Order(StringComparer.Ordinal));
        AssertSameFiles(input, output, others);
        foreach (var m in new[] { "decoder_model.onnx", "decoder_with_past_model.onnx" })
        {
            Assert.True(new FileInfo(Path.Combine(output, m + "_data")).Length < new FileInfo(Path.Combine(input, m + "_data")).Length / 4);
            AssertComputesTheSame(Path.Combine(input, m), Path.Combine(output, m));
        }
        Assert.Empty(Directory.GetDirectories(Path.Combine(_dir.Path, "out"), ".*")); // no temporary folder left
    }

    [Fact]
    public void AGenAiModelBuilderFolderKeepsItsDataFileNameAndConfig()
    {
        var config = """
            {
                "model": {
                    "type": "llama", "vocab_size": 256, "context_length": 128, "bos_token_id": 1, "eos_token_id": 2, "pad_token_id": 0,
                    "decoder": { "filename": "model.onnx", "head_size": 64, "hidden_size": 256, "num_attention_heads": 4,
                                 "num_hidden_layers": 2, "num_key_value_heads": 2, "session_options": { "provider_options": [] } }
                },
                "search": { "max_length": 128, "do_sample": false }
            }
            """;
        var input = Folder("genai", ("genai_config.json", config));
        SaveWithData(Path.Combine(input, "model.onnx"), "model.onnx.data");
        var output = Path.Combine(_dir.Path, "genai-ternary");
        Directory.CreateDirectory(output); // an existing empty folder is fine too

        var r = CliRunner.Run("compile", input, "-o", output, "--report", _dir.File("folder.json"));
        Assert.True(r.ExitCode == 0, r.Stderr);
        AssertSameFiles(input, output, ["genai_config.json", .. TokenizerFiles.Keys]);
        Assert.True(File.Exists(Path.Combine(output, "model.onnx.data")));
        AssertComputesTheSame(Path.Combine(input, "model.onnx"), Path.Combine(output, "model.onnx"));

        using var report = JsonDocument.Parse(File.ReadAllText(_dir.File("folder.json")));
        var model = report.RootElement.GetProperty("models").EnumerateArray().Single();
        Assert.Equal("model.onnx", model.GetProperty("path").GetString());
        Assert.Equal(14, model.GetProperty("report").GetProperty("ternaryWeights").GetArrayLength());
        Assert.Equal(4, report.RootElement.GetProperty("copied").GetArrayLength());
    }

    /// <summary>
    /// A model whose weights sit in two data files becomes one with one data file: genai_config.json
    /// must then name the new file, and its shared initializer must point at the tensor's new place.
    /// </summary>
    [Fact]
    public void GenAiConfigFollowsARenamedDataFileAndMovedSharedInitializer()
    {
        var input = Folder("split");
        var proto = ModelProto.Parser.ParseFrom(File.ReadAllBytes(Reference));
        var original = new Dictionary<string, byte[]>();
        using (var first = File.Create(Path.Combine(input, "weights-1.bin")))
        using (var second = File.Create(Path.Combine(input, "weights-2.bin")))
        {
            int i = 0;
            foreach (var t in proto.Graph.Initializer.Where(t => t.RawData.Length >= 1024))
            {
                var file = i++ % 2 == 0 ? first : second;
                long at = file.Length;
                t.RawData.WriteTo(file);
                original[t.Name] = t.RawData.ToByteArray();
                t.ExternalData.Add(new StringStringEntryProto { Key = "location", Value = Path.GetFileName(file.Name) });
                t.ExternalData.Add(new StringStringEntryProto { Key = "offset", Value = at.ToString() });
                t.ExternalData.Add(new StringStringEntryProto { Key = "length", Value = t.RawData.Length.ToString() });
                t.DataLocation = TensorProto.Types.DataLocation.External;
                t.ClearRawData();
            }
        }
        File.WriteAllBytes(Path.Combine(input, "model.onnx"), proto.ToByteArray());
        // The LM head stays dense (it is not ternary): GenAI may share it between sessions.
        const string shared = "lm_head.weight";
        var place = proto.Graph.Initializer.Single(t => t.Name == shared).ExternalData.ToDictionary(e => e.Key, e => e.Value);
        var config = new JsonObject
        {
            ["model"] = new JsonObject
            {
                ["decoder"] = new JsonObject
                {
                    ["filename"] = "model.onnx",
                    ["shared_initializers"] = new JsonArray(new JsonObject { ["name"] = shared, ["data_file"] = place["location"], ["offset"] = place["offset"], ["length"] = place["length"] }),
                },
                ["extra_files"] = new JsonArray("weights-2.bin", "tokenizer.json"),
            },
        };
        File.WriteAllText(Path.Combine(input, "genai_config.json"), config.ToJsonString());

        var output = _dir.File("split-ternary");
        var r = CliRunner.Run("compile", input, "-o", output);
        Assert.True(r.ExitCode == 0, r.Stderr);
        Assert.Contains("genai_config.json updated", r.Stdout);
        Assert.Equal(["genai_config.json", "model.onnx", "model.onnx.data", .. TokenizerFiles.Keys.Order(StringComparer.Ordinal)],
            Directory.GetFiles(output).Select(Path.GetFileName).Order(StringComparer.Ordinal));
        AssertComputesTheSame(Path.Combine(input, "model.onnx"), Path.Combine(output, "model.onnx"));

        var rewritten = JsonNode.Parse(File.ReadAllText(Path.Combine(output, "genai_config.json")))!;
        var entry = rewritten["model"]!["decoder"]!["shared_initializers"]![0]!;
        Assert.Equal("model.onnx.data", entry["data_file"]!.GetValue<string>());
        Assert.Equal("model.onnx.data", rewritten["model"]!["extra_files"]![0]!.GetValue<string>());
        Assert.Equal("tokenizer.json", rewritten["model"]!["extra_files"]![1]!.GetValue<string>());
        long offset = long.Parse(entry["offset"]!.GetValue<string>()), length = long.Parse(entry["length"]!.GetValue<string>());
        Assert.NotEqual(place["offset"], offset.ToString()); // the tensor moved: an unchanged offset would read other bytes
        using var data = File.OpenRead(Path.Combine(output, "model.onnx.data"));
        var bytes = new byte[length];
        data.Seek(offset, SeekOrigin.Begin);
        data.ReadExactly(bytes);
        Assert.Equal(original[shared], bytes);
    }

    [Fact]
    public void AMalformedModelFailsTheWholeFolderNamingTheFileAndWritesNothing()
    {
        var input = Folder("broken");
        File.Copy(Reference, Path.Combine(input, "a_good.onnx"));
        var bytes = File.ReadAllBytes(Reference);
        File.WriteAllBytes(Path.Combine(input, "b_truncated.onnx"), bytes[..(bytes.Length / 3)]);
        var parent = Path.Combine(_dir.Path, "never");
        var r = CliRunner.Run("compile", input, "-o", Path.Combine(parent, "out"));
        Assert.Equal(2, r.ExitCode);
        Assert.Single(r.ErrorLines);
        Assert.Contains("b_truncated.onnx", r.Stderr);
        Assert.Equal("", r.Stdout); // no line claims a model was written
        Assert.False(Directory.Exists(parent), "the folders created for the output must be gone again");
        Assert.Empty(Directory.GetDirectories(_dir.Path, ".*"));
    }

    [Fact]
    public void AnUnreadableModelFailsNamingTheFile()
    {
        var input = Folder("unreadable");
        File.Copy(Reference, Path.Combine(input, "model.onnx"));
        File.CreateSymbolicLink(Path.Combine(input, "missing.onnx"), "/nonexistent/ternion/model.onnx"); // a link to nothing: unreadable even for root
        var output = _dir.File("unreadable-out");
        var r = CliRunner.Run("compile", input, "-o", output);
        Assert.Equal(2, r.ExitCode);
        Assert.Single(r.ErrorLines);
        Assert.Contains("missing.onnx", r.Stderr);
        Assert.False(Directory.Exists(output));
    }

    [Fact]
    public void RefusedBeforeAnythingIsWritten()
    {
        var noModel = Folder("no-model", ("config.json", "{}"));
        var r = CliRunner.Run("compile", noModel, "-o", _dir.File("x"));
        Assert.Equal(2, r.ExitCode);
        Assert.Contains("no ONNX model", r.Stderr);
        Assert.False(Directory.Exists(_dir.File("x")));

        var input = Folder("refuse");
        File.Copy(Reference, Path.Combine(input, "model.onnx"));
        var before = Directory.GetFiles(input).Order(StringComparer.Ordinal).ToList();
        foreach (var (output, why) in new[] { (input, "is the input folder"), (Path.Combine(input, "out"), "inside the input folder"), (Path.Combine(input, "a", "b"), "inside the input folder") })
        {
            var refused = CliRunner.Run("compile", input, "-o", output);
            Assert.Equal(2, refused.ExitCode);
            Assert.Single(refused.ErrorLines);
            Assert.Contains(why, refused.Stderr);
        }
        Assert.Equal(before, Directory.GetFiles(input).Order(StringComparer.Ordinal));
        Assert.Empty(Directory.GetDirectories(input));

        var full = _dir.File("full");
        Directory.CreateDirectory(full);
        File.WriteAllText(Path.Combine(full, "keep.txt"), "mine");
        var notEmpty = CliRunner.Run("compile", input, "-o", full);
        Assert.Equal(2, notEmpty.ExitCode);
        Assert.Contains("not empty", notEmpty.Stderr);
        Assert.Equal("mine", File.ReadAllText(Path.Combine(full, "keep.txt")));
    }

    [Fact]
    public void TheLibraryCompilesAFolderToo()
    {
        var input = Folder("library");
        File.Copy(Reference, Path.Combine(input, "model.onnx"));
        var result = FolderCompiler.Compile(new FolderCompileRequest
        {
            InputFolder = input,
            OutputFolder = _dir.File("library-out"),
            Settings = new CompileRequest { InputPath = "", OutputPath = "", Target = "folded" },
        });
        Assert.Equal("model.onnx", result.Models.Single().RelativePath);
        Assert.Equal("folded", result.Models.Single().Result.Report.Target);
        Assert.Equal(3, result.CopiedFiles.Count);
        AssertComputesTheSame(Path.Combine(input, "model.onnx"), Path.Combine(result.OutputFolder, "model.onnx"));
    }
}
