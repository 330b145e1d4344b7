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

    public static TargetRegistry WithBuiltIns()
    {
        var r = new TargetRegistry();
        r.Add(new FallbackTarget(), "built-in");
        r.Add(new NativeTarget(), "built-in");
        r.Add(new FoldedTarget(), "built-in");
        r.Add(new OrtNBitsTarget(), "built-in");
        return r;
    }

    public IEnumerable<ITarget> Targets => _targets.Values;
    public IReadOnlyDictionary<string, Func<IPass>> Passes => _passes;
    public IReadOnlyList<string> Sources => _sources;
    private readonly Dictionary<string, string> _origin = new(StringComparer.Ordinal);
    public string OriginOf(ITarget t) => _origin.GetValueOrDefault(t.Name, "?");

    public void Add(ITarget target, string origin)
    {
        if (string.IsNullOrWhiteSpace(target.Name) || target.Name.Any(char.IsWhiteSpace))
            throw new TernionException($"{origin}: target type {target.GetType().FullName} has an invalid name '{target.Name}'");
        if (_targets.ContainsKey(target.Name))
            throw new TernionException($"{origin}: target '{target.Name}' is already defined by {_origin[target.Name]}");
        _targets[target.Name] = target;
        _origin[target.Name] = origin;
    }

    public void AddPass(string name, Func<IPass> factory, string origin)
    {
        if (_passes.ContainsKey(name)) throw new TernionException($"{origin}: pass '{name}' is already defined");
        _passes[name] = factory;
    }

    public ITarget Get(string name) => _targets.TryGetValue(name, out var t) ? t
        : throw new TernionException($"unknown target '{name}'; known targets: {string.Join(", ", _targets.Keys.Order(StringComparer.Ordinal))}");

    /// <summary>
    /// Loads a plugin assembly in its own load context and registers every public, concrete
    /// <see cref="ITarget"/> and <see cref="IPass"/> type with a parameterless constructor. A broken
    /// plugin gives one clear error naming the file, not a crash.
    /// </summary>
    public void LoadPlugin(string path)
    {
        var full = Path.GetFullPath(path);
        if (!File.Exists(full)) throw new TernionException($"plugin {path}: file not found");
        Assembly asm;
        try
        {
            var alc = new PluginLoadContext(full);
            asm = alc.LoadFromAssemblyPath(full);
        }
        catch (Exception e) when (e is BadImageFormatException or FileLoadException or IOException)
        {
            throw new TernionException($"plugin {path}: not a loadable .NET assembly ({e.Message.Split('\n')[0]})");
        }
        Type[] types;
        try { types = asm.GetExportedTypes(); }
        catch (Exception e) when (e is ReflectionTypeLoadException or FileNotFoundException or TypeLoadException or FileLoadException)
        {
            throw new TernionException($"plugin {path}: its types cannot be loaded ({e.Message.Split('\n')[0]}); was it built against this version of Ternion?");
        }
        int found = 0;
        foreach (var type in types.Where(t => t is { IsClass: true, IsAbstract: false }))
        {
            bool isTarget = typeof(ITarget).IsAssignableFrom(type), isPass = typeof(IPass).IsAssignableFrom(type);
            if (!isTarget && !isPass) continue;
            if (type.GetConstructor(Type.EmptyTypes) is null) continue;
            object instance;
            try { instance = Activator.CreateInstance(type)!; }
            catch (TargetInvocationException e)
            {
                throw new TernionException($"plugin {path}: creating {type.FullName} failed: {e.InnerException?.Message ?? e.Message}");
            }
            if (instance is ITarget target) { Add(target, $"plugin {Path.GetFileName(path)}"); found++; }
            if (instance is IPass pass)
            {
                var captured = type;
                AddPass(pass.Name, () => (IPass)Activator.CreateInstance(captured)!, $"plugin {Path.GetFileName(path)}");
                found++;
            }
        }
        if (found == 0) throw new TernionException($"plugin {path}: defines no public ITarget or IPass type with a parameterless constructor");
        _sources.Add(full);
    }

    /// <summary>Plugins resolve their own dependencies from their folder, and share Ternion's assemblies with the host.</summary>
    private sealed class PluginLoadContext(string mainPath) : AssemblyLoadContext($"ternion-plugin:{Path.GetFileName(mainPath)}", isCollectible: false)
    {
        private readonly AssemblyDependencyResolver _resolver = new(mainPath);

        protected override Assembly? Load(AssemblyName name)
        {
            // Ternion's own assemblies (and what they use) come from the host, so types are shared.
            var host = Default.Assemblies.FirstOrDefault(a => a.GetName().Name == name.Name);
            if (host is not null) return host;
            if (name.Name is { } n && (n.StartsWith("Ternion.", StringComparison.Ordinal) || n.StartsWith("System.", StringComparison.Ordinal) || n.StartsWith("Microsoft.", StringComparison.Ordinal) || n == "Google.Protobuf" || n == "QuikGraph"))
                return null; // fall back to the default context
            var path = _resolver.ResolveAssemblyToPath(name);
            return path is null ? null : LoadFromAssemblyPath(path);
        }
    }
}
