using System.Text.Json;
using NodeKeeper.Core.Config;

namespace NodeKeeper.Core.Import;

/// <summary>What the app runs and as whom: script (and its spellings), cwd, interpreter, args, node_args, uid/user.</summary>
internal static class Pm2Process
{
    private static readonly string[] ScriptKeys = ["script", "exec", "cmd", "command"];
    private static readonly string[] NodeArgsKeys = ["node_args", "interpreter_args", "interpreterArgs"];
    private static readonly string[] InterpreterKeys = ["interpreter", "exec_interpreter"];
    private static readonly string[] UserKeys = ["uid", "user"];
    private static readonly string[] NodeScriptExtensions = [".js", ".cjs", ".mjs", ".ts", ".cts", ".mts", ".jsx", ".tsx", ".coffee", ".ls"];
    private static readonly string[] OtherLanguageExtensions = [".py", ".sh", ".bash", ".rb", ".php", ".pl", ".lua", ".jar", ".exe"];

    /// <summary>Every spelling of the script, interpreter and node_args options: those not used are another spelling of one that is.</summary>
    public static readonly string[] Spellings = [.. ScriptKeys, .. InterpreterKeys, .. NodeArgsKeys];

    public sealed record Script(Mapping Mapping, string? Key, string? Value);

    /// <param name="LeftOut">Why the app cannot run under NodeKeeper (it is left out), or null.</param>
    /// <param name="Cwd">The app's absolute working directory.</param>
    /// <param name="NodeInterpreter">Whether the interpreter is node, which PM2's cluster mode needs.</param>
    public sealed record Result(Mapping Mapping, string? LeftOut, string Cwd, bool NodeInterpreter);

    public static Script ReadScript(Pm2App app)
    {
        var m = new Mapping(app);
        var (key, value) = m.FirstString(ScriptKeys);
        return new Script(m, key, value);
    }

    public static Result Map(Pm2App app, string scriptKey, string script)
    {
        var m = new Mapping(app);
        var options = app.Options;
        var cwd = options.EcosystemDirectory;
        if (m.Take("cwd", out var cwdValue))
        {
            if (cwdValue.ValueKind == JsonValueKind.String && cwdValue.GetString()!.Length > 0) cwd = ConfigPaths.Resolve(options.EcosystemDirectory, app.Home(cwdValue.GetString()!));
            else m.Invalid("cwd", cwdValue, "a folder");
        }

        var (interpreterKey, interpreter) = m.FirstString(InterpreterKeys);
        bool nodeInterpreter = interpreter is null || IsNode(interpreter);
        if (NotNodeScript(app, scriptKey, script, cwd, interpreterKey, interpreter) is { } why)
            return new Result(m, why, cwd, nodeInterpreter);

        m.Line("script", Mapping.S(ConfigPaths.Resolve(cwd, script)));
        m.Line("cwd", Mapping.S(cwd));
        if (m.StringList("args", splitString: true) is { Count: > 0 } args) m.Line("args", TomlText.Array(args));
        var (nodeArgsKey, _) = m.First(NodeArgsKeys);
        if (nodeArgsKey is not null && m.StringList(nodeArgsKey, splitString: true) is { Count: > 0 } nodeArgs)
            m.Line("node_args", TomlText.Array(nodeArgs));
        if (interpreter is not null && interpreter != AppDefaults.Interpreter)
        {
            if (nodeInterpreter && !interpreter.Contains('@'))
                m.Line("interpreter", Mapping.S(interpreter.Contains('/') ? ConfigPaths.Resolve(options.EcosystemDirectory, app.Home(interpreter)) : interpreter));
            else if (interpreter.Contains('@'))
                m.Note(interpreterKey!, $"{interpreterKey} is not mapped: NodeKeeper installs no node versions ({TomlText.String(interpreter)}); give the path of a node binary, or leave it out to use node from PATH");
            else
                m.Note(interpreterKey!, $"{interpreterKey} is not mapped: NodeKeeper runs apps with node, so {TomlText.String(interpreter)} is not used and the app runs with node");
        }
        return new Result(m, null, cwd, nodeInterpreter);
    }

    /// <summary>uid, or else user, as PM2 picks between them.</summary>
    public static Mapping User(Pm2App app)
    {
        var m = new Mapping(app);
        var (key, value) = m.First(UserKeys);
        if (key is null) return m;
        foreach (var other in UserKeys.Where(k => k != key && app.Has(k)))
        {
            m.Used.Add(other);
            m.Note(other, $"{other} is not mapped: {key} is used, as PM2 does");
        }
        var user = value.ValueKind switch
        {
            JsonValueKind.String => value.GetString(),
            JsonValueKind.Number => value.GetRawText(),
            _ => null,
        };
        if (string.IsNullOrEmpty(user) || user.Contains('\0')) m.Invalid(key, value, "a user name or id");
        else m.Line("user", Mapping.S(user));
        return m;
    }

    private static bool IsNode(string interpreter)
    {
        var file = Path.GetFileName(interpreter);
        return file is "node" or "nodejs" || file.EndsWith("node", StringComparison.Ordinal) || file.StartsWith("node@", StringComparison.Ordinal);
    }

    /// <summary>Why the script cannot run as a Node.js script (so the app is left out), or null.</summary>
    private static string? NotNodeScript(Pm2App app, string scriptKey, string script, string cwd, string? interpreterKey, string? interpreter)
    {
        if (script.Any(char.IsWhiteSpace))
            return "PM2 runs a script with spaces through bash -c, NodeKeeper runs Node.js scripts; point script at the .js file and put the rest in args";
        if (interpreter == "none")
            return $"{interpreterKey} = \"none\" runs it as a binary, NodeKeeper runs Node.js scripts";
        var ext = Path.GetExtension(script).ToLowerInvariant();
        bool nodeInterpreter = interpreter is null || IsNode(interpreter);
        if (OtherLanguageExtensions.Contains(ext) && nodeInterpreter)
            return "it is not a Node.js script, and NodeKeeper runs Node.js scripts";
        if (!script.Contains('/') && !NodeScriptExtensions.Contains(ext) && !app.Options.FileExists(ConfigPaths.Resolve(cwd, script)))
            return $"it is a command, not a Node.js script; point {scriptKey} at the .js file it runs (for npm start, the start script of package.json) and put its arguments in args";
        return null;
    }
}
