// The Account screen's fields, checked before anything is saved, and turned
// into the core's AccountConfig.
package org.mailpresence.ui

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
     *  core believes a Notify only as that system proved it, so without it no
     *  colleague's presence can be shown. */
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
) {
    enum class Field { ACCOUNT, MAIL, PASSWORD, PRESENCE_SERVER, MAIL_HOST, IMAP_PORT, SMTP_PORT, AUTHSERV_ID }

    data class Problem(val field: Field, val text: String)

    fun problems(lang: Lang): List<Problem> {
        val out = mutableListOf<Problem>()
        fun say(f: Field, ja: String, en: String) = out.add(Problem(f, if (lang == Lang.JA) ja else en))
        if (!ACCOUNT.matches(account.trim())) say(Field.ACCOUNT, "アカウント名は英数字・「.」「_」「-」で入力してください", "Use letters, digits, '.', '_' or '-' for the account name")
        if (!looksLikeMail(mail)) say(Field.MAIL, "メールアドレスの形式が正しくありません", "This is not a mail address")
        if (signIn == null && password.isEmpty()) say(Field.PASSWORD, "パスワードを入力してください", "Enter the password")
        if (!looksLikeMail(presenceServer)) say(Field.PRESENCE_SERVER, "プレゼンスサーバーのアドレスが正しくありません", "The presence server's address is not a mail address")
        if (mailHost.isBlank() || mailHost.contains(' ')) say(Field.MAIL_HOST, "メールサーバー名を入力してください", "Enter the mail server's name")
        if (port(imapPort) == null) say(Field.IMAP_PORT, "ポート番号は1〜65535です", "A port is 1 to 65535")
        if (port(smtpPort) == null) say(Field.SMTP_PORT, "ポート番号は1〜65535です", "A port is 1 to 65535")
        if (!AUTHSERV_ID.matches(authservId.trim())) say(Field.AUTHSERV_ID,
            "メールシステムの authserv-id（例: mx.example.co.jp）を入力してください。これがないと同僚のプレゼンスを表示できません。社内の情報システム担当に確認してください",
            "Enter the mail system's authserv-id (e.g. mx.example.co.jp): without it no colleague's presence can be shown. Ask your IT department")
        return out
    }

    /** The core's configuration; only call when [problems] is empty. */
    fun toConfig(lang: Lang): AccountConfig {
        fun server(port: String, security: TlsMode, host: String = mailHost) = MailServer(
            host = host.trim(), port = (port(port) ?: 0).toUShort(), tls = security,
            user = mail.trim(), password = password.takeIf { signIn == null }, caFile = null,
        )
        return AccountConfig(
            account = account.trim(), mail = mail.trim(), presenceServer = presenceServer.trim(), language = lang.code,
            imap = server(imapPort, imapSecurity), smtp = server(smtpPort, smtpSecurity, smtpHost.ifBlank { mailHost }),
            granularity = granularity,
            authservId = authservId.trim(), oauth = signIn, serverKey = serverKey.trim().ifEmpty { null },
        )
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

        private val ACCOUNT = Regex("^[\\p{L}\\p{N}._-]{1,64}$")
        /** An authserv-id as mail systems write it: a host name, no spaces or `;`. */
        private val AUTHSERV_ID = Regex("^[A-Za-z0-9._-]{1,253}$")
        private fun looksLikeMail(s: String): Boolean {
            val t = s.trim()
            val at = t.indexOf('@')
            return at > 0 && t.indexOf('.', at) > at + 1 && !t.endsWith('.') && t.none { it.isWhitespace() }
        }
        private fun port(s: String): Int? = s.trim().toIntOrNull()?.takeIf { it in 1..65535 }
    }
}
