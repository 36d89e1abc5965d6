using System.Text.Json;
using NodeKeeper.Core.Config;

namespace NodeKeeper.Core.Import;

/// <summary>
/// What the app runs and as whom: script (and its spellings), cwd, interpreter, args, node_args, uid/user. The program
/// is found as PM2 finds it: a script with spaces is a command line for bash -c; a script that is not a file is a
/// command on PATH; without an interpreter, the script's extension picks one (.py python, .sh bash, ...), a binary runs
/// as itself, and anything else runs with node.
/// </summary>
internal static class Pm2Process
{
    private static readonly string[] ScriptKeys = ["script", "exec", "cmd", "command"];
    private static readonly string[] NodeArgsKeys = ["node_args", "interpreter_args", "interpreterArgs"];
    private static readonly string[] InterpreterKeys = ["interpreter", "exec_interpreter"];
    private static readonly string[] UserKeys = ["uid", "user"];

    /// <summary>PM2's interpreter by extension (lib/API/interpreter.json); .js and the rest run with node.</summary>
    private static readonly Dictionary<string, string> ByExtension = new(StringComparer.Ordinal)
    {
        [".sh"] = "bash", [".py"] = "python", [".rb"] = "ruby", [".php"] = "php", [".pl"] = "perl",
        [".coffee"] = "coffee", [".ls"] = "lsc", [".ts"] = "bun", [".tsx"] = "bun",
    };

    private static readonly string[] NodeExtensions = [".js", ".cjs", ".mjs", ".jsx"];
    private const string EnableSourceMaps = "--enable-source-maps";

    /// <summary>What a command line may hold to be read here as words (anything else is left to bash -c).</summary>
    private static bool PlainWords(string line) => !line.Any(c => "'\"`$;&|<>()*?~{}[]!#\\".Contains(c));

    /// <summary>Every spelling of the script, interpreter and node_args options: those not used are another spelling of one that is.</summary>
    public static readonly string[] Spellings = [.. ScriptKeys, .. InterpreterKeys, .. NodeArgsKeys];

    public sealed record Script(Mapping Mapping, string? Key, string? Value);

    /// <param name="Cwd">The app's absolute working directory.</param>
    /// <param name="NodeInterpreter">Whether the interpreter is node, which PM2's cluster mode needs.</param>
    /// <param name="Python">Whether a Python interpreter runs it: PM2 sets PYTHONUNBUFFERED=1 for those.</param>
    public sealed record Result(Mapping Mapping, string Cwd, bool NodeInterpreter, bool Python = false);

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
        if (interpreter?.Contains('@') == true)
        {
            m.Note(interpreterKey!, $"{interpreterKey} is not mapped: NodeKeeper installs no node versions ({TomlText.String(interpreter)}); give the path of a node binary, or leave it out to use node from PATH");
            interpreter = null;
        }
        List<string>? args = null;
        List<string> nodeArgs = [];
        var path = ConfigPaths.Resolve(cwd, script);

        // PM2 runs a script with spaces as a command line, through bash -c (and drops the app's args).
        if (script.Any(char.IsWhiteSpace) && !options.FileExists(path))
        {
            var words = EcosystemImporter.SplitArgs(script);
            var nodeAt = words.Count > 1 && Programs.Of(words[0]) == ProgramKind.Node && PlainWords(script)
                ? words.FindIndex(1, w => !w.StartsWith('-')) : -1;
            if (nodeAt > 0)
            {
                // "node server.js --x": the node script itself, with node's features.
                m.Note(scriptKey, $"{scriptKey} {TomlText.String(script)} is run as the node script {TomlText.String(words[nodeAt])} it names (PM2 runs it through bash -c), so it gets NodeKeeper's node features");
                script = words[nodeAt];
                path = ConfigPaths.Resolve(cwd, script);
                nodeArgs = words[1..nodeAt];
                args = words[(nodeAt + 1)..];
                interpreter = null;
            }
            else
            {
                m.Note(scriptKey, $"{scriptKey} {TomlText.String(script)} runs as PM2 runs it, through bash -c: a program, not node (no node features)");
                if (app.Has("args")) m.Note("args", "args is not mapped: PM2 replaces the args of a command line with -c and the line");
                m.Used.Add("args");
                Program(m, "bash", ["-c", script], cwd);
                return new Result(m, cwd, NodeInterpreter: false);
            }
        }
        else if (script.Any(char.IsWhiteSpace))
            m.Note(scriptKey, $"{scriptKey} {TomlText.String(script)} is run as the file it names (PM2 would run a script with spaces through bash -c as a command line)");

        args ??= m.StringList("args", splitString: true) ?? [];
        var (argsKey, _) = m.First(NodeArgsKeys);
        var given = argsKey is not null ? m.StringList(argsKey, splitString: true) ?? [] : [];
        ProgramKind kind;
        string? program;
        bool python = false;
        // Not a file here, and no "/": PM2 looks it up on PATH. A name with a script's extension is still taken for a file
        // (it may be there on the machine the file is for).
        var command = !script.Contains('/') && !options.FileExists(path)
            && (options.Which(script) is not null || !(ByExtension.ContainsKey(Path.GetExtension(script)) || NodeExtensions.Contains(Path.GetExtension(script))));
        if (command && interpreter is null or Programs.None)
        {
            // A command (npm, yarn, a binary on PATH): NodeKeeper looks it up on PATH at each start, as a shell does.
            kind = ProgramKind.Executable;
            program = null;
            if (options.Which(script) is null)
                m.Note(scriptKey, $"{scriptKey} {TomlText.String(script)} is neither a file in {cwd} nor a command on PATH here: it is run as a command, looked up on PATH at start");
            path = script;
        }
        else if (interpreter is null)
        {
            (kind, program) = ByItsExtension(m, scriptKey, script, path, options, ref nodeArgs);
        }
        else
        {
            if (command && options.Which(script) is { } found) path = found;
            kind = Programs.Of(interpreter);
            program = kind == ProgramKind.Executable ? null
                : interpreter.Contains('/') ? ConfigPaths.Resolve(options.EcosystemDirectory, app.Home(interpreter)) : interpreter;
            if (kind == ProgramKind.Interpreter && Path.GetFileName(interpreter) is "ts-node" or "bun" or "deno" or "tsx")
                m.Note(interpreterKey!, $"{interpreterKey} {TomlText.String(interpreter)} runs as a program other than node: no preload, so no node features (shared port, event-loop watch, HTTP counts); with node itself, node_args = [\"--require\", \"ts-node/register\"] or Node 22's --experimental-strip-types give them");
        }
        python = program is not null && Path.GetFileName(program).Contains("python", StringComparison.Ordinal);
        // PM2 turns source maps on in every node app (process.setSourceMapsEnabled) unless disable_source_map_support.
        var sourceMaps = !(m.Take("disable_source_map_support", out var noMaps) && noMaps.ValueKind == JsonValueKind.True);
        if (m.Take("source_map_support", out var maps) && maps.ValueKind == JsonValueKind.True && kind != ProgramKind.Node)
            m.Note("source_map_support", "source_map_support is not mapped: source maps are node's, and the app is not node");

        switch (kind)
        {
            case ProgramKind.Node:
                m.Line("script", Mapping.S(path));
                m.Line("cwd", Mapping.S(cwd));
                if (args.Count > 0) m.Line("args", TomlText.Array(args));
                nodeArgs.AddRange(given);
                if (sourceMaps && !nodeArgs.Contains(EnableSourceMaps)) nodeArgs.Add(EnableSourceMaps);
                if (nodeArgs.Count > 0) m.Line("node_args", TomlText.Array(nodeArgs));
                if (program is not null && program != AppDefaults.Interpreter) m.Line("interpreter", Mapping.S(program));
                break;
            case ProgramKind.Interpreter:
                m.Line("script", Mapping.S(path));
                m.Line("cwd", Mapping.S(cwd));
                if (args.Count > 0) m.Line("args", TomlText.Array(args));
                m.Line("interpreter", Mapping.S(program!));
                if (given.Count > 0) m.Line("interpreter_args", TomlText.Array(given));
                break;
            default:
                if (given.Count > 0) m.Note(argsKey!, $"{argsKey} is not mapped: the app runs {TomlText.String(script)} as a program, with no interpreter to give them to");
                Program(m, path, args, cwd);
                break;
        }
        return new Result(m, cwd, kind == ProgramKind.Node, python);
    }

    /// <summary>The lines of an app whose script is the program (interpreter = "none").</summary>
    private static void Program(Mapping m, string program, IReadOnlyList<string> args, string cwd)
    {
        m.Line("script", Mapping.S(program));
        m.Line("interpreter", Mapping.S(Programs.None));
        m.Line("cwd", Mapping.S(cwd));
        if (args.Count > 0) m.Line("args", TomlText.Array(args));
    }

    /// <summary>PM2's choice without an interpreter: by extension, a binary as itself, else node.</summary>
    private static (ProgramKind Kind, string? Program) ByItsExtension(Mapping m, string scriptKey, string script, string path, ImportOptions options, ref List<string> nodeArgs)
    {
        var ext = Path.GetExtension(script);
        if (!ByExtension.TryGetValue(ext, out var chosen))
            return ext.Length == 0 && options.FileExists(path) && options.IsBinary(path) ? (ProgramKind.Executable, null) : (ProgramKind.Node, null);
        switch (chosen)
        {
            case "python":
                // PM2 takes python, or python3 when there is no python.
                return (ProgramKind.Interpreter, options.Which("python") is null && options.Which("python3") is not null ? "python3" : "python");
            case "bun" when options.Which("bun") is null:
                // PM2 runs TypeScript with bun, or without it by node's type stripping.
                m.Note(scriptKey, $"{scriptKey} {TomlText.String(script)} is TypeScript and bun is not on PATH here: it runs with node --experimental-strip-types, as PM2 does then (Node 22.6 or later)");
                nodeArgs = [.. nodeArgs, "--experimental-strip-types"];
                return (ProgramKind.Node, null);
            case "coffee" or "lsc":
                m.Note(scriptKey, $"{scriptKey} {TomlText.String(script)} runs with {chosen} from PATH (PM2 brings its own)");
                return (ProgramKind.Interpreter, chosen);
            default:
                return (ProgramKind.Interpreter, chosen);
        }
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
}
