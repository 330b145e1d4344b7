using System.Reflection;
using System.Runtime.Loader;
using Ternion.IR;
using Ternion.Passes;

namespace Ternion.Backends.Targets;

/// <summary>
/// The targets (and extra passes) known to a compilation: the four built-ins, plus whatever plugin
/// assemblies add. Built-ins are registered exactly like plugins.
/// </summary>
public sealed class TargetRegistry
{
    private readonly Dictionary<string, ITarget> _targets = new(StringComparer.Ordinal);
    private readonly Dictionary<string, Func<IPass>> _passes = new(StringComparer.Ordinal);
    private readonly List<string> _sources = new();
    private readonly Dictionary<string, string> _origin = new(StringComparer.Ordinal);
    private readonly Dictionary<string, string> _passOrigin = new(StringComparer.Ordinal);

    public static TargetRegistry WithBuiltIns()
    {
        var r = new TargetRegistry();
        r.Add(new FallbackTarget(), "built-in");
        r.Add(new NativeTarget(), "built-in");
        r.Add(new FoldedTarget(), "built-in");
        r.Add(new OrtNBitsTarget(), "built-in");
        r.Add(new OrtNBitsInt8Target(), "built-in");
        r.Add(new OrtTtf1Target(), "built-in");
        return r;
    }

    public IEnumerable<ITarget> Targets => _targets.Values;
    public IReadOnlyDictionary<string, Func<IPass>> Passes => _passes;
    public IReadOnlyList<string> Sources => _sources;
    public string OriginOf(ITarget t) => _origin.GetValueOrDefault(t.Name, "?");

    public void Add(ITarget target, string origin)
    {
        CheckName(target, origin);
        if (_targets.ContainsKey(target.Name))
            throw new TernionException($"{origin}: target '{target.Name}' is already defined by {_origin[target.Name]}");
        _targets[target.Name] = target;
        _origin[target.Name] = origin;
    }

    public void AddPass(string name, Func<IPass> factory, string origin)
    {
        if (_passOrigin.TryGetValue(name, out var other))
            throw new TernionException($"{origin}: pass '{name}' is already defined by {other}");
        _passes[name] = factory;
        _passOrigin[name] = origin;
    }

    public ITarget Get(string name) => _targets.TryGetValue(name, out var t) ? t
        : throw new TernionException($"unknown target '{name}'; known targets: {string.Join(", ", _targets.Keys.Order(StringComparer.Ordinal))}");

    /// <summary>
    /// Loads a plugin assembly in its own load context and registers every public, concrete
    /// <see cref="ITarget"/> and <see cref="IPass"/> type with a parameterless constructor. A broken
    /// plugin — not an assembly, a dependency missing, a constructor that throws, a name already
    /// taken, nothing to register — gives one error line naming the file, and registers nothing.
    /// Loading the same file twice is a no-op (it may sit in a plugins folder and be named with --plugin).
    /// </summary>
    public void LoadPlugin(string path)
    {
        if (string.IsNullOrEmpty(path)) throw new TernionException("plugin: the path is empty");
        var full = Path.GetFullPath(path);
        if (!File.Exists(full)) throw new TernionException($"plugin {path}: file not found");
        if (_sources.Contains(full, StringComparer.Ordinal)) return;
        string origin = $"plugin {Path.GetFileName(full)}";
        Assembly asm;
        try
        {
            var alc = new PluginLoadContext(full);
            asm = alc.LoadFromAssemblyPath(full);
        }
        catch (Exception e) when (e is BadImageFormatException or FileLoadException or IOException)
        {
            throw new TernionException($"plugin {path}: not a loadable .NET assembly ({FirstLine(e.Message)})");
        }

        var targets = new List<ITarget>();
        var passes = new List<(string Name, Type Type)>();
        try
        {
            foreach (var type in asm.GetExportedTypes().Where(t => t is { IsClass: true, IsAbstract: false }).OrderBy(t => t.FullName, StringComparer.Ordinal))
            {
                bool isTarget = typeof(ITarget).IsAssignableFrom(type), isPass = typeof(IPass).IsAssignableFrom(type);
                if (!isTarget && !isPass) continue;
                if (type.GetConstructor(Type.EmptyTypes) is null) continue;
                object instance;
                try { instance = Activator.CreateInstance(type)!; }
                catch (TargetInvocationException e) when (e.InnerException is not (FileNotFoundException or FileLoadException or TypeLoadException))
                {
                    throw new TernionException($"plugin {path}: creating {type.FullName} failed: {FirstLine(e.InnerException?.Message ?? e.Message)}");
                }
                if (instance is ITarget target) targets.Add(target);
                if (instance is IPass pass) passes.Add((pass.Name, type));
            }
        }
        catch (Exception e) when (Unwrap(e) is FileNotFoundException missing)
        {
            throw new TernionException($"plugin {path}: needs {Describe(missing.FileName)}, which is neither next to it nor part of Ternion; copy the plugin's dependencies into its folder");
        }
        catch (Exception e) when (Unwrap(e) is FileLoadException bad)
        {
            throw new TernionException($"plugin {path}: cannot load {Describe(bad.FileName)}, which it needs ({FirstLine(bad.Message)})");
        }
        catch (Exception e) when (Unwrap(e) is ReflectionTypeLoadException or TypeLoadException or MissingMethodException or MissingFieldException)
        {
            throw new TernionException($"plugin {path}: its types cannot be loaded ({FirstLine(Unwrap(e).Message)}); was it built against this version of Ternion?");
        }
        if (targets.Count == 0 && passes.Count == 0)
            throw new TernionException($"plugin {path}: defines no public ITarget or IPass type with a parameterless constructor");

        // Check every name before registering any, so a refused plugin leaves the registry as it was.
        var names = new HashSet<string>(StringComparer.Ordinal);
        foreach (var t in targets)
        {
            CheckName(t, origin);
            if (_targets.ContainsKey(t.Name)) throw new TernionException($"{origin}: target '{t.Name}' is already defined by {_origin[t.Name]}");
            if (!names.Add(t.Name)) throw new TernionException($"{origin}: defines target '{t.Name}' twice");
        }
        names.Clear();
        foreach (var (name, _) in passes)
        {
            if (_passOrigin.TryGetValue(name, out var other)) throw new TernionException($"{origin}: pass '{name}' is already defined by {other}");
            if (!names.Add(name)) throw new TernionException($"{origin}: defines pass '{name}' twice");
        }
        foreach (var t in targets) Add(t, origin);
        foreach (var (name, type) in passes) AddPass(name, () => (IPass)Activator.CreateInstance(type)!, origin);
        _sources.Add(full);
    }

    /// <summary>
    /// Loads the plugins of a folder: each DLL directly in it is a plugin, and each subfolder NAME/
    /// holds the plugin NAME/NAME.dll together with its own dependencies (which are not plugins).
    /// </summary>
    public void LoadPluginFolder(string folder)
    {
        if (!Directory.Exists(folder)) return;
        foreach (var dll in Directory.GetFiles(folder, "*.dll").Order(StringComparer.Ordinal)) LoadPlugin(dll);
        foreach (var sub in Directory.GetDirectories(folder).Order(StringComparer.Ordinal))
        {
            var main = Path.Combine(sub, Path.GetFileName(sub) + ".dll");
            if (File.Exists(main)) LoadPlugin(main);
        }
    }

    /// <summary>Where plugins are looked for: plugins/ next to the ternion binary, then ~/.ternion/plugins.</summary>
    public static IReadOnlyList<string> DefaultPluginFolders()
    {
        var folders = new List<string> { Path.Combine(AppContext.BaseDirectory, "plugins") };
        var home = Environment.GetFolderPath(Environment.SpecialFolder.UserProfile);
        if (home.Length > 0) folders.Add(Path.Combine(home, ".ternion", "plugins"));
        return folders;
    }

    private static void CheckName(ITarget target, string origin)
    {
        if (string.IsNullOrWhiteSpace(target.Name) || target.Name.Any(char.IsWhiteSpace))
            throw new TernionException($"{origin}: target type {target.GetType().FullName} has an invalid name '{target.Name}'");
    }

    private static Exception Unwrap(Exception e) => e is TargetInvocationException { InnerException: { } inner } ? inner : e;

    private static string FirstLine(string s) => s.Split('\n')[0].Trim();

    /// <summary>"'VendorSdk' (version 1.0.0.0)" from an assembly display name, or the name as given.</summary>
    private static string Describe(string? assembly)
    {
        if (assembly is null) return "an assembly";
        try
        {
            var n = new AssemblyName(assembly);
            return n.Version is { } v ? $"assembly '{n.Name}' (version {v})" : $"assembly '{n.Name}'";
        }
        catch (Exception e) when (e is ArgumentException or FileLoadException) { return $"'{assembly}'"; }
    }

    /// <summary>Plugins resolve their own dependencies from their folder, and share Ternion's assemblies with the host.</summary>
    private sealed class PluginLoadContext(string mainPath) : AssemblyLoadContext($"ternion-plugin:{Path.GetFileName(mainPath)}", isCollectible: false)
    {
        private readonly AssemblyDependencyResolver _resolver = new(mainPath);

        protected override Assembly? Load(AssemblyName name)
        {
            // Whatever the host has (Ternion's assemblies, the framework, the host's packages) comes
            // from the host, so types are shared: a plugin's ITarget is the host's ITarget.
            if (name.Name is null || HostAssemblies.Value.Contains(name.Name)) return null;
            // The plugin's own dependencies come from its folder, as its .deps.json lists them.
            var path = _resolver.ResolveAssemblyToPath(name);
            return path is not null && File.Exists(path) ? LoadFromAssemblyPath(path) : null;
        }

        /// <summary>Simple names of the assemblies the default context can load (the host's trusted platform assemblies).</summary>
        private static readonly Lazy<HashSet<string>> HostAssemblies = new(() =>
            ((AppContext.GetData("TRUSTED_PLATFORM_ASSEMBLIES") as string) ?? "")
                .Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries)
                .Select(Path.GetFileNameWithoutExtension).OfType<string>()
                .Concat(Default.Assemblies.Select(a => a.GetName().Name).OfType<string>())
                .ToHashSet(StringComparer.Ordinal));
    }
}
