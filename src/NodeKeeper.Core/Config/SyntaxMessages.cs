namespace NodeKeeper.Core.Config;

/// <summary>
/// Says what is wrong with the TOML syntax in our own words, from Tomlyn's message. Tomlyn quotes the text it stumbled
/// on ("Unexpected token `AKIA…` for a value"), and that text is often a secret: an unquoted password in env, a key
/// pasted on a line of its own. nk prints these errors and the daemon logs them, so none of Tomlyn's text is passed
/// on: each message is recognised by the fixed words around what it quotes, and anything not recognised gets a
/// generic message. The position says where.
/// </summary>
internal static class SyntaxMessages
{
    private const string Value =
        "not a valid value: write a string in quotes, a number, true or false, a date, an array [ ] or an inline table { }";
    private const string Escape =
        "invalid escape in a string: use \\b \\t \\n \\f \\r \\e \\\" \\\\ \\xHH \\uHHHH or \\UHHHHHHHH (or a 'literal string')";
    private const string Underscore = "an underscore in a number must be between two digits";
    private const string DateTime = "not a valid date or time: write it as 1979-05-27, 07:32:00 or 1979-05-27T07:32:00Z";
    private const string Number = "not a valid number";

    /// <summary>The fixed words of each Tomlyn 2.10.2 parse message and what we say instead; the first match wins.</summary>
    private static readonly (string Marker, string Message)[] Known =
    [
        ("end-of-line found while expecting a value", "a value is missing after \"=\""),
        ("` for a value", Value),
        ("Expecting `=` after a key", "expected \"=\" after the key (each line is key = value)"),
        ("` for a base key", "expected a key name"),
        ("Expecting a closing `]` for an array", "expected \",\" or \"]\" after an array item"),
        ("to separate items in an array", "missing \",\" between array items"),
        ("while parsing inline table", "expected a key, \",\" or \"}\" in the inline table"),
        ("while expecting `]]`", "expected \"]]\" to close the [[table]] header"),
        ("while expecting `]`", "expected \"]\" to close the [table] header"),
        ("while expecting token `newline`", "expected the end of the line here (one key = value per line)"),
        ("Unexpected token [", "expected a key = value or a [table] header"),
        ("Invalid newline in a string", "the string is not closed on its line (a string of several lines needs \"\"\" or ''')"),
        ("found for multi-line", "the multi-line string is not closed"),
        ("found on string literal", "the string is not closed"),
        ("Invalid control character", "a string cannot hold control characters: write them as escapes such as \\t or \\u0007"),
        ("escape", Escape),
        ("Invalid Unicode scalar value", Escape),
        ("surrogate", "a string holds an invalid character"),
        ("Invalid \\r not followed by \\n", "a carriage return must be followed by a line feed"),
        ("Invalid capital", "write the 0x, 0o and 0b prefixes in lower case"),
        ("underscore", Underscore),
        ("leading 0", "a number must not start with 0"),
        ("leading zero", "a number must not start with 0"),
        ("after the float dot", "expected a digit after the decimal point"),
        ("after the exponent", "expected a digit after the exponent"),
        ("Unable to parse integer", "not a valid integer: whole numbers must fit in 64 bits"),
        ("Invalid size of", "not a valid integer: whole numbers must fit in 64 bits"),
        ("integer. Expecting", Number),
        ("Invalid prefix", Number),
        ("floating point", Number),
        ("date time", DateTime),
        ("datetime", DateTime),
    ];

    /// <summary>What is wrong, never quoting the file.</summary>
    public static string Describe(string tomlynMessage)
    {
        foreach (var (marker, message) in Known)
        {
            if (tomlynMessage.Contains(marker, StringComparison.Ordinal)) return message;
        }
        return "this is not valid TOML";
    }
}
