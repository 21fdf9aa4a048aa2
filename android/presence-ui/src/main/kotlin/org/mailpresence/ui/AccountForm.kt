// The Account screen's fields, checked before anything is saved or tested,
// and turned into the core's AccountConfig: the TLS mode a port needs (the
// form picks it, and refuses a mismatch), the company CA file, how a Notify
// is proven (the mail system's authserv-id, or the server key from the
// enrolment). The screen draws its text fields from [AccountForm.fields],
// which says for each whether the keyboard may correct or capitalise it.
package org.mailpresence.ui

import java.io.File
import org.mailpresence.AccountConfig
import org.mailpresence.EnrolmentCode
import org.mailpresence.Granularity
import org.mailpresence.MailServer
import org.mailpresence.MailSettings
import org.mailpresence.protocol.ProviderConfig
import org.mailpresence.protocol.ProviderKind
import org.mailpresence.protocol.TlsMode

data class AccountForm(
    val account: String = "",
    val mail: String = "",
    val password: String = "",
    val presenceServer: String = "",
    val mailHost: String = "",
    val imapPort: String = "993",
    val imapSecurity: TlsMode = TlsMode.IMPLICIT,
    val smtpPort: String = "587",
    val smtpSecurity: TlsMode = TlsMode.STARTTLS,
    val granularity: Granularity = Granularity.CITY,
    /** The authserv-id the company's mail system stamps (`mx.example.co.jp`): the
     *  core believes a Notify only as that system proved it, so without it (or
     *  the server key) no colleague's presence can be shown. */
    val authservId: String = "",
    /** Microsoft 365 / Google Workspace: the worker signs in (MailSignIn)
     *  instead of typing a password; the core reads the refresh token from
     *  the app's TokenStorage (PresenceClient.withSignIn). */
    val signIn: ProviderConfig? = null,
    /** The SMTP server when it is not [mailHost] (Gmail: smtp.gmail.com); blank: the same. */
    val smtpHost: String = "",
    /** The presence server's public key from the enrolment code: a Notify then
     *  counts only with its signature. Blank before enrolment. */
    val serverKey: String = "",
    /** A PEM file with the company's CA (the shell copies the picked file into
     *  the app's storage), when the mail servers' certificates are not public. */
    val caFile: String = "",
) {
    enum class Field {
        ACCOUNT, MAIL, PASSWORD, PRESENCE_SERVER, MAIL_HOST, IMAP_PORT, SMTP_PORT, AUTHSERV_ID,
        SMTP_HOST, IMAP_SECURITY, SMTP_SECURITY, SERVER_KEY, CA_FILE,
    }

    data class Problem(val field: Field, val text: String)

    /** What a text field holds, for the keyboard the shell shows. */
    enum class Input { NAME, MAIL_ADDRESS, HOST, PORT, PASSWORD, KEY, FILE }

    /** One text field as the shell draws it. Hosts, addresses, keys and
     *  names are typed exactly: no autocorrect, no capital first letter. */
    data class FieldSpec(
        val field: Field,
        val label: String,
        val input: Input,
        val autoCorrect: Boolean,
        val autoCapitalize: Boolean,
    )

    fun problems(lang: Lang): List<Problem> {
        val out = mutableListOf<Problem>()
        fun say(f: Field, ja: String, en: String) = out.add(Problem(f, if (lang == Lang.JA) ja else en))
        if (!ACCOUNT.matches(account.trim())) say(Field.ACCOUNT, "アカウント名は英数字・「.」「_」「-」で入力してください", "Use letters, digits, '.', '_' or '-' for the account name")
        if (!looksLikeMail(mail)) say(Field.MAIL, "メールアドレスの形式が正しくありません", "This is not a mail address")
        if (signIn == null && password.isEmpty()) say(Field.PASSWORD, "パスワードを入力してください", "Enter the password")
        if (!looksLikeMail(presenceServer)) say(Field.PRESENCE_SERVER, "プレゼンスサーバーのアドレスが正しくありません", "The presence server's address is not a mail address")
        if (!looksLikeHost(mailHost)) say(Field.MAIL_HOST, "メールサーバー名を入力してください", "Enter the mail server's name")
        if (smtpHost.isNotBlank() && !looksLikeHost(smtpHost)) say(Field.SMTP_HOST, "SMTP サーバー名が正しくありません", "The SMTP server's name is not a host name")
        if (port(imapPort) == null) say(Field.IMAP_PORT, "ポート番号は1〜65535です", "A port is 1 to 65535")
        if (port(smtpPort) == null) say(Field.SMTP_PORT, "ポート番号は1〜65535です", "A port is 1 to 65535")
        tlsProblem(port(imapPort), imapSecurity, mailHost, IMAP_PORTS)?.let { (ja, en) -> say(Field.IMAP_SECURITY, ja, en) }
        tlsProblem(port(smtpPort), smtpSecurity, smtpHost.ifBlank { mailHost }, SMTP_PORTS)?.let { (ja, en) -> say(Field.SMTP_SECURITY, ja, en) }
        val key = serverKey.trim()
        if (key.isNotEmpty() && !SERVER_KEY.matches(key)) say(Field.SERVER_KEY,
            "サーバーの公開鍵が正しくありません。登録用コードを読み取り直してください",
            "The server key is not a key. Scan the enrolment code again")
        if (key.isEmpty() && !AUTHSERV_ID.matches(authservId.trim())) say(Field.AUTHSERV_ID,
            "メールシステムの authserv-id（例: mx.example.co.jp）を入力してください。これがないと同僚のプレゼンスを表示できません。社内の情報システム担当に確認してください",
            "Enter the mail system's authserv-id (e.g. mx.example.co.jp): without it no colleague's presence can be shown. Ask your IT department")
        if (key.isNotEmpty() && authservId.isNotBlank() && !AUTHSERV_ID.matches(authservId.trim())) say(Field.AUTHSERV_ID,
            "authserv-id はホスト名の形（例: mx.example.co.jp）です", "An authserv-id looks like a host name (e.g. mx.example.co.jp)")
        if (caFile.isNotBlank() && !holdsCertificate(caFile.trim())) say(Field.CA_FILE,
            "このファイルには証明書（PEM 形式）がありません。情報システム担当から受け取った CA 証明書を選んでください",
            "This file holds no certificate (PEM). Choose the CA certificate your IT department gave you")
        return out
    }

    /** The core's configuration; only call when [problems] is empty. */
    fun toConfig(lang: Lang): AccountConfig {
        fun server(port: String, security: TlsMode, host: String = mailHost) = MailServer(
            host = host.trim(), port = (port(port) ?: 0).toUShort(), tls = security,
            user = mail.trim(), password = password.takeIf { signIn == null }, caFile = caFile.trim().ifEmpty { null },
        )
        return AccountConfig(
            account = account.trim(), mail = mail.trim(), presenceServer = presenceServer.trim(), language = lang.code,
            imap = server(imapPort, imapSecurity), smtp = server(smtpPort, smtpSecurity, smtpHost.ifBlank { mailHost }),
            granularity = granularity,
            authservId = authservId.trim().ifEmpty { null }, oauth = signIn, serverKey = serverKey.trim().ifEmpty { null },
        )
    }

    /** The IMAP port typed; a well-known one brings its TLS mode (993: SSL/TLS, 143: STARTTLS). */
    fun withImapPort(text: String): AccountForm = copy(imapPort = text, imapSecurity = IMAP_PORTS[port(text)] ?: imapSecurity)

    /** The SMTP port typed; a well-known one brings its TLS mode (465: SSL/TLS, 587 and 25: STARTTLS). */
    fun withSmtpPort(text: String): AccountForm = copy(smtpPort = text, smtpSecurity = SMTP_PORTS[port(text)] ?: smtpSecurity)

    /** The IMAP TLS mode chosen; a well-known port of the other mode follows (993 ⇄ 143). */
    fun withImapSecurity(mode: TlsMode): AccountForm = copy(imapSecurity = mode, imapPort = followPort(imapPort, mode, IMAP_PORTS))

    /** The SMTP TLS mode chosen; a well-known port of the other mode follows (465 ⇄ 587). */
    fun withSmtpSecurity(mode: TlsMode): AccountForm = copy(smtpSecurity = mode, smtpPort = followPort(smtpPort, mode, SMTP_PORTS))

    /** How a colleague's Notify is proven, in words for the screen. */
    fun proof(lang: Lang): String = when {
        serverKey.isNotBlank() -> if (lang == Lang.JA) "プレゼンスサーバーの署名で確認します（登録済み）" else "Proven by the presence server's signature (enrolled)"
        else -> if (lang == Lang.JA) "会社のメールシステムの判定（authserv-id）で確認します" else "Proven by the company mail system's verdict (authserv-id)"
    }

    /** The text fields in the order the screen shows them (no password with a sign-in). */
    fun fields(lang: Lang): List<FieldSpec> {
        fun spec(f: Field, ja: String, en: String, input: Input) =
            FieldSpec(f, if (lang == Lang.JA) ja else en, input, autoCorrect = false, autoCapitalize = false)
        return listOfNotNull(
            spec(Field.ACCOUNT, "アカウント名", "Account name", Input.NAME),
            spec(Field.MAIL, "メールアドレス", "Mail address", Input.MAIL_ADDRESS),
            spec(Field.PASSWORD, "パスワード", "Password", Input.PASSWORD).takeIf { signIn == null },
            spec(Field.PRESENCE_SERVER, "プレゼンスサーバーのアドレス", "Presence server address", Input.MAIL_ADDRESS),
            spec(Field.MAIL_HOST, "メールサーバー", "Mail server", Input.HOST),
            spec(Field.IMAP_PORT, "IMAP ポート", "IMAP port", Input.PORT),
            spec(Field.SMTP_HOST, "SMTP サーバー（別の場合）", "SMTP server (if different)", Input.HOST),
            spec(Field.SMTP_PORT, "SMTP ポート", "SMTP port", Input.PORT),
            spec(Field.AUTHSERV_ID, "メールシステムの authserv-id（情報システム担当に確認）", "Mail system's authserv-id (ask IT)", Input.HOST),
            spec(Field.SERVER_KEY, "プレゼンスサーバーの公開鍵（登録用コードから）", "Presence server key (from the enrolment code)", Input.KEY),
            spec(Field.CA_FILE, "会社の CA 証明書ファイル", "Company CA certificate file", Input.FILE),
        )
    }

    /** A text field's value, for the shell's loop over [fields]. */
    fun value(field: Field): String = when (field) {
        Field.ACCOUNT -> account
        Field.MAIL -> mail
        Field.PASSWORD -> password
        Field.PRESENCE_SERVER -> presenceServer
        Field.MAIL_HOST -> mailHost
        Field.IMAP_PORT -> imapPort
        Field.SMTP_HOST -> smtpHost
        Field.SMTP_PORT -> smtpPort
        Field.AUTHSERV_ID -> authservId
        Field.SERVER_KEY -> serverKey
        Field.CA_FILE -> caFile
        Field.IMAP_SECURITY, Field.SMTP_SECURITY -> ""
    }

    /** The form with a text field typed (ports bring their TLS mode). */
    fun with(field: Field, text: String): AccountForm = when (field) {
        Field.ACCOUNT -> copy(account = text)
        Field.MAIL -> copy(mail = text)
        Field.PASSWORD -> copy(password = text)
        Field.PRESENCE_SERVER -> copy(presenceServer = text)
        Field.MAIL_HOST -> copy(mailHost = text)
        Field.IMAP_PORT -> withImapPort(text)
        Field.SMTP_HOST -> copy(smtpHost = text)
        Field.SMTP_PORT -> withSmtpPort(text)
        Field.AUTHSERV_ID -> copy(authservId = text)
        Field.SERVER_KEY -> copy(serverKey = text)
        Field.CA_FILE -> copy(caFile = text)
        Field.IMAP_SECURITY, Field.SMTP_SECURITY -> this
    }

    /** The form with what the core found from the mail address alone
     *  (`findMailSettings`): hosts, ports and TLS, and the sign-in where the
     *  company's provider is one the app has a registration for
     *  (`registration`: the app's client id for that provider, or null). */
    fun withSettings(found: MailSettings, registration: (ProviderKind, String?) -> ProviderConfig?): AccountForm = copy(
        mailHost = found.imap.host, imapPort = found.imap.port.toString(), imapSecurity = found.imap.tls,
        smtpHost = if (found.smtp.host == found.imap.host) "" else found.smtp.host,
        smtpPort = found.smtp.port.toString(), smtpSecurity = found.smtp.tls,
        signIn = found.signIn?.let { registration(it.provider, it.tenant) } ?: signIn,
    )

    companion object {
        /** The form as a scanned enrolment code fills it (read by the core:
         *  `readEnrolmentCode`); only the password is left, unless the code
         *  names the company's sign-in. */
        fun fromEnrolment(code: EnrolmentCode): AccountForm = AccountForm(
            account = code.account, mail = code.mail, presenceServer = code.presenceServer,
            mailHost = code.imap.host, imapPort = code.imap.port.toString(), imapSecurity = code.imap.tls,
            smtpHost = if (code.smtp.host == code.imap.host) "" else code.smtp.host,
            smtpPort = code.smtp.port.toString(), smtpSecurity = code.smtp.tls,
            authservId = code.authservId.orEmpty(), signIn = code.signIn, serverKey = code.serverKey,
        )

        /** The TLS modes a picker offers, with their names. */
        fun securityChoices(lang: Lang): List<Pair<TlsMode, String>> = listOf(
            TlsMode.IMPLICIT to "SSL/TLS",
            TlsMode.STARTTLS to "STARTTLS",
            TlsMode.NONE to if (lang == Lang.JA) "なし（暗号化しない）" else "None (not encrypted)",
        )

        /** The well-known ports and the TLS mode each needs. */
        private val IMAP_PORTS = mapOf(993 to TlsMode.IMPLICIT, 143 to TlsMode.STARTTLS)
        private val SMTP_PORTS = mapOf(465 to TlsMode.IMPLICIT, 587 to TlsMode.STARTTLS, 25 to TlsMode.STARTTLS)

        private fun followPort(text: String, mode: TlsMode, known: Map<Int, TlsMode>): String {
            val now = port(text)
            if (now == null || now !in known || known[now] == mode) return text
            return known.entries.firstOrNull { it.value == mode }?.key?.toString() ?: text
        }

        /** Why [mode] cannot work on [port] of [host], in both languages, or null. */
        private fun tlsProblem(port: Int?, mode: TlsMode, host: String, known: Map<Int, TlsMode>): Pair<String, String>? {
            val needed = port?.let { known[it] }
            return when {
                needed == TlsMode.IMPLICIT && mode != TlsMode.IMPLICIT ->
                    "ポート${port}は SSL/TLS（接続時から暗号化）が必要です" to "Port $port needs SSL/TLS (encrypted from the start)"
                needed == TlsMode.STARTTLS && mode == TlsMode.IMPLICIT ->
                    "ポート${port}は STARTTLS で暗号化します。SSL/TLS にはポート${known.entries.first { it.value == TlsMode.IMPLICIT }.key}を使います" to
                        "Port $port starts TLS with STARTTLS; SSL/TLS uses port ${known.entries.first { it.value == TlsMode.IMPLICIT }.key}"
                mode == TlsMode.NONE && !isLoopback(host) ->
                    "暗号化しないとパスワードがそのまま送られます。SSL/TLS か STARTTLS を選んでください" to
                        "Without encryption the password goes out as it is. Choose SSL/TLS or STARTTLS"
                else -> null
            }
        }

        private fun isLoopback(host: String): Boolean = host.trim().let { it == "localhost" || it == "::1" || it.startsWith("127.") }

        private fun holdsCertificate(path: String): Boolean = try {
            File(path).readText().contains("-----BEGIN CERTIFICATE-----")
        } catch (e: java.io.IOException) {
            false
        }

        private val ACCOUNT = Regex("^[\\p{L}\\p{N}._-]{1,64}$")
        /** An authserv-id as mail systems write it: a host name, no spaces or `;`. */
        private val AUTHSERV_ID = Regex("^[A-Za-z0-9._-]{1,253}$")
        /** An Ed25519 public key in base64url, as the enrolment code carries it. */
        private val SERVER_KEY = Regex("^[A-Za-z0-9_-]{43}$")
        private fun looksLikeMail(s: String): Boolean {
            val t = s.trim()
            val at = t.indexOf('@')
            return at > 0 && t.indexOf('.', at) > at + 1 && !t.endsWith('.') && t.none { it.isWhitespace() }
        }
        private fun looksLikeHost(s: String): Boolean = s.isNotBlank() && s.trim().none { it.isWhitespace() }
        private fun port(s: String): Int? = s.trim().toIntOrNull()?.takeIf { it in 1..65535 }
    }
}
