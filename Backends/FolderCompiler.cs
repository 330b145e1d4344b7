using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Ternion.Backends.Targets;
using Ternion.IR;
using Ternion.IR.Serialization;

namespace Ternion.Backends;

/// <summary>A whole exporter folder to compile: every ONNX model in it, with one set of compile settings.</summary>
public sealed record FolderCompileRequest
{
    public required string InputFolder { get; init; }
    /// <summary>Created if it does not exist; an existing folder must be empty.</summary>
    public required string OutputFolder { get; init; }
    /// <summary>
    /// The settings of each model's compile (target, block size, ...). Its InputPath and OutputPath
    /// are ignored; DumpIrDirectory, when set, gets one subfolder per model.
    /// </summary>
    public required CompileRequest Settings { get; init; }
}

/// <summary>One model of a folder: its path relative to the folder and its compile result (paths in it point into the temporary build folder).</summary>
public sealed record FolderModelResult(string RelativePath, CompileResult Result);

public sealed record FolderCompileResult(
    string OutputFolder,
    IReadOnlyList<FolderModelResult> Models,
    IReadOnlyList<string> CopiedFiles,
    IReadOnlyList<string> RewrittenFiles,
    long BytesBefore,
    long BytesAfter,
    TimeSpan Elapsed);

/// <summary>
/// Compiles an exporter's model folder as a whole: Optimum (model.onnx, or decoder_model.onnx +
/// decoder_with_past_model.onnx, with config.json and tokenizer files), Olive / ONNX Runtime GenAI's
/// model builder (model.onnx + model.onnx.data + genai_config.json + tokenizer files), or any folder
/// holding *.onnx files. Every ONNX model is compiled with <see cref="TernionCompiler.Compile"/>;
/// every other file is copied unchanged, except the external data files the models read (each
/// compiled model writes its own, under the same name where it had one) and genai_config.json
/// files, whose data file names and shared initializer offsets are brought up to date when the
/// compile changed them. The folder is built beside the output and renamed into place at the end,
/// so a failure leaves nothing behind.
/// </summary>
/// <remarks>A layer above one model: it runs the per-model compile and carries the other files; no pass knows about folders.</remarks>
public static class FolderCompiler
{
    public const string GenAiConfigName = "genai_config.json";

    public static FolderCompileResult Compile(FolderCompileRequest request, TargetRegistry? registry = null, ILogger? logger = null,
        Action<FolderModelResult>? modelDone = null, Func<string, ISaveProgress?>? progressFor = null)
    {
        var clock = Stopwatch.StartNew();
        logger ??= NullLogger.Instance;
        registry ??= TargetRegistry.WithBuiltIns();
        // "out/" and "out" are one folder: without the separator, its parent and name are what they look like.
        string input = Path.TrimEndingDirectorySeparator(Path.GetFullPath(request.InputFolder));
        string output = Path.TrimEndingDirectorySeparator(Path.GetFullPath(request.OutputFolder));
        CheckFolders(request.InputFolder, input, request.OutputFolder, output);

        var files = Directory.EnumerateFiles(input, "*", new EnumerationOptions { RecurseSubdirectories = true, AttributesToSkip = 0, IgnoreInaccessible = false })
            .Select(f => Path.GetRelativePath(input, f)).Order(StringComparer.Ordinal).ToList();
        var models = files.Where(IsModel).ToList();
        if (models.Count == 0)
            throw new TernionException($"{request.InputFolder}: no ONNX model (*.onnx) in this folder");
        // Fail on an unknown target before creating anything.
        registry.Get(request.Settings.Target);

        var created = CreateParents(output);
        string build = Path.Combine(Path.GetDirectoryName(output)!, $".{Path.GetFileName(output)}.tmp-{Environment.ProcessId}-{Guid.NewGuid():N}");
        try
        {
            Directory.CreateDirectory(build);
            var results = new List<FolderModelResult>();
            var readData = new HashSet<string>(StringComparer.Ordinal);   // relative paths of data files the models read
            var writtenData = new Dictionary<string, string>(StringComparer.Ordinal); // relative data file written -> relative model that wrote it
            var dataRenames = new Dictionary<string, string?>(StringComparer.Ordinal); // relative old data file -> relative new one (null: none)
            foreach (var rel in models)
            {
                string source = Path.Combine(input, rel);
                string target = Path.Combine(build, rel);
                Directory.CreateDirectory(Path.GetDirectoryName(target)!);
                var settings = request.Settings with
                {
                    InputPath = source,
                    OutputPath = target,
                    ReportPath = null,
                    DataFileName = null,
                    ChooseDataFileName = inputData => KeptDataFileName(inputData, rel, build, writtenData),
                    DumpIrDirectory = request.Settings.DumpIrDirectory is { } dump ? Path.Combine(dump, rel) : null,
                };
                var result = TernionCompiler.Compile(settings, registry, logger, progressFor?.Invoke(rel));
                var modelResult = new FolderModelResult(rel, result);
                results.Add(modelResult);
                string? newData = result.Saved.DataPath is { } d ? Path.GetRelativePath(build, d) : null;
                if (newData is not null) writtenData[newData] = rel;
                foreach (var old in result.InputDataFiles.Select(f => Path.GetRelativePath(input, f)))
                {
                    readData.Add(old);
                    dataRenames[old] = newData;
                }
                modelDone?.Invoke(modelResult);
            }

            var copied = new List<string>();
            var rewritten = new List<string>();
            foreach (var rel in files)
            {
                if (IsModel(rel) || readData.Contains(rel)) continue;
                if (writtenData.TryGetValue(rel, out var writer))
                    throw new TernionException($"{Path.Combine(request.InputFolder, rel)}: the compiled {writer} writes its data to this name, but the folder already holds a file by that name that {writer} did not read; rename it or move it out of the folder");
                string source = Path.Combine(input, rel);
                string target = Path.Combine(build, rel);
                Directory.CreateDirectory(Path.GetDirectoryName(target)!);
                if (Path.GetFileName(rel) == GenAiConfigName
                    && RewriteGenAiConfig(source, rel, dataRenames, writtenData, build, logger) is { } updated)
                {
                    File.WriteAllText(target, updated);
                    rewritten.Add(rel);
                }
                else
                {
                    File.Copy(source, target);
                    copied.Add(rel);
                }
            }

            if (Directory.Exists(output)) Directory.Delete(output); // empty, checked above
            Directory.Move(build, output);
            long before = files.Sum(f => PathSafety.Target(Path.Combine(input, f)).Length);
            long after = Directory.EnumerateFiles(output, "*", new EnumerationOptions { RecurseSubdirectories = true, AttributesToSkip = 0 }).Sum(f => new FileInfo(f).Length);
            return new FolderCompileResult(output, results, copied, rewritten, before, after, clock.Elapsed);
        }
        catch
        {
            TryDeleteTree(build);
            foreach (var dir in created) TryDeleteEmpty(dir);
            throw;
        }
    }

    /// <summary>
    /// The input's own data file name when it has exactly one, so the exporter's names (and the
    /// configs naming them) stay valid; the default (model file name + ".data") when it has none or
    /// several, or when an earlier model of the folder already wrote a file by that name (two models
    /// sharing one data file each get their own).
    /// </summary>
    private static string? KeptDataFileName(IReadOnlyList<string> inputData, string modelRel, string build, Dictionary<string, string> writtenData)
    {
        if (inputData.Count != 1) return null;
        string name = Path.GetFileName(inputData[0]);
        string rel = Path.Combine(Path.GetDirectoryName(modelRel) ?? "", name);
        return writtenData.ContainsKey(rel) || File.Exists(Path.Combine(build, rel)) ? null : name;
    }

    private static bool IsModel(string relative) => relative.EndsWith(".onnx", StringComparison.OrdinalIgnoreCase);

    private static void CheckFolders(string inputArg, string input, string outputArg, string output)
    {
        if (!Directory.Exists(input)) throw new TernionException($"{inputArg}: no such folder");
        if (File.Exists(output)) throw new TernionException($"{outputArg}: is a file; a folder compile writes a folder");
        string realIn = PathSafety.RealPath(input).TrimEnd('/');
        string realOut = PathSafety.RealPath(output).TrimEnd('/');
        if (realOut == realIn)
            throw new TernionException($"{outputArg}: is the input folder; choose another output folder (nothing a compile reads is overwritten)");
        if (realOut.StartsWith(realIn + "/", StringComparison.Ordinal))
            throw new TernionException($"{outputArg}: is inside the input folder {inputArg}; choose an output folder outside it");
        if (Directory.Exists(output) && Directory.EnumerateFileSystemEntries(output).Any())
            throw new TernionException($"{outputArg}: the folder exists and is not empty; choose a new or empty folder");
        if (Path.GetDirectoryName(output) is null) throw new TernionException($"{outputArg}: cannot write to the root folder");
    }

    /// <summary>Creates the missing parents of <paramref name="folder"/> (not the folder itself); returns them, deepest first.</summary>
    private static List<string> CreateParents(string folder)
    {
        var missing = new List<string>();
        for (var d = Path.GetDirectoryName(folder); d is not null && !Directory.Exists(d); d = Path.GetDirectoryName(d)) missing.Add(d);
        for (int i = missing.Count - 1; i >= 0; i--) Directory.CreateDirectory(missing[i]);
        return missing;
    }

    /// <summary>
    /// The genai_config.json brought up to date, or null when nothing in it changed. Strings naming a
    /// data file the compile renamed get the new name; a shared initializer (decoder or mtp:
    /// shared_initializers [{name, data_file, offset, length}]) that points into a data file the
    /// compile rewrote gets the tensor's new offset and length, since writing a data file moves
    /// every tensor in it.
    /// </summary>
    private static string? RewriteGenAiConfig(string path, string rel, Dictionary<string, string?> dataRenames,
        Dictionary<string, string> writtenData, string build, ILogger logger)
    {
        JsonNode? root;
        try { root = JsonNode.Parse(File.ReadAllText(path), documentOptions: new JsonDocumentOptions { CommentHandling = JsonCommentHandling.Skip, AllowTrailingCommas = true }); }
        catch (JsonException e) { throw new TernionException($"{path}: not valid JSON ({e.Message})"); }
        if (root is null) return null;
        string configDir = Path.GetDirectoryName(rel) ?? "";
        // Paths in the config are relative to its own folder; the maps hold paths relative to the model folder.
        const string anchor = "/folder";
        string Rel(string name) => name.Contains('\0') ? "" : Path.GetRelativePath(anchor, Path.GetFullPath(Path.Combine(anchor, configDir, name)));
        string Local(string relToFolder) => Path.GetRelativePath(Path.Combine(anchor, configDir), Path.Combine(anchor, relToFolder));
        bool changed = false;
        var layouts = new Dictionary<string, Dictionary<string, (long Offset, long Length, string Location)>>(StringComparer.Ordinal);

        void Visit(JsonNode? node)
        {
            switch (node)
            {
                case JsonObject obj:
                    if (obj["data_file"] is JsonValue df && df.TryGetValue<string>(out var dataFile) && obj["name"] is JsonValue nv && nv.TryGetValue<string>(out var tensorName))
                        UpdateSharedInitializer(obj, dataFile, tensorName);
                    foreach (var (key, value) in obj.ToList())
                    {
                        if (value is JsonValue v && v.TryGetValue<string>(out var s) && dataRenames.TryGetValue(Rel(s), out var renamed) && renamed is not null && Local(renamed) != s)
                        {
                            obj[key] = Local(renamed);
                            changed = true;
                        }
                        else Visit(value);
                    }
                    break;
                case JsonArray arr:
                    for (int i = 0; i < arr.Count; i++)
                    {
                        if (arr[i] is JsonValue v && v.TryGetValue<string>(out var s) && dataRenames.TryGetValue(Rel(s), out var renamed) && renamed is not null && Local(renamed) != s)
                        {
                            arr[i] = Local(renamed);
                            changed = true;
                        }
                        else Visit(arr[i]);
                    }
                    break;
            }
        }

        void UpdateSharedInitializer(JsonObject entry, string dataFile, string tensorName)
        {
            string old = Rel(dataFile);
            if (!dataRenames.TryGetValue(old, out var now)) return; // not a data file any compiled model read
            if (now is null || !writtenData.TryGetValue(now, out var model))
                throw new TernionException($"{path}: shared initializer '{tensorName}' reads {dataFile}, which the compiled models no longer write (their weights are inline now); compile with --external-data always");
            if (!layouts.TryGetValue(model, out var layout))
            {
                layout = new(StringComparer.Ordinal);
                var compiled = ModelSerializer.Load(Path.Combine(build, model));
                foreach (var t in compiled.AllTensors())
                    if (t.Name is { } n && t.Data is ExternalTensorData e) layout[n] = (e.Offset, e.Length, Path.GetRelativePath(build, e.FullPath));
                layouts[model] = layout;
            }
            if (!layout.TryGetValue(tensorName, out var place) || place.Location != now)
                throw new TernionException($"{path}: shared initializer '{tensorName}' is not in the compiled {model}'s data file any more (it was packed or inlined); GenAI could not share it");
            string newLocal = Local(now);
            if (dataFile != newLocal) { entry["data_file"] = newLocal; changed = true; }
            changed |= SetNumber(entry, "offset", place.Offset) | SetNumber(entry, "length", place.Length);
        }

        Visit(root);
        if (!changed) return null;
        logger.LogInformation("{Config}: data file names or shared initializer offsets updated for the compiled models", rel);
        return root.ToJsonString(new JsonSerializerOptions { WriteIndented = true }) + "\n";
    }

    /// <summary>Sets a number field, keeping the config's own choice of a JSON string or number.</summary>
    private static bool SetNumber(JsonObject entry, string key, long value)
    {
        string text = value.ToString(CultureInfo.InvariantCulture);
        var current = entry[key];
        if (current is JsonValue v && v.TryGetValue<string>(out var s))
        {
            if (s == text) return false;
            entry[key] = text;
            return true;
        }
        if (current is JsonValue n && n.TryGetValue<long>(out var l) && l == value) return false;
        entry[key] = value;
        return true;
    }

    private static void TryDeleteTree(string dir)
    {
        try { if (Directory.Exists(dir)) Directory.Delete(dir, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }

    private static void TryDeleteEmpty(string dir)
    {
        try { if (Directory.Exists(dir) && !Directory.EnumerateFileSystemEntries(dir).Any()) Directory.Delete(dir); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }
}
