extension Policy {
    /// The built-in policy, in the YAML form users copy and edit (`policy:` in the config file).
    /// Bounces and spam complaints mark then suppress; subscription changes and engagement are
    /// monotonic, so a late retry of an older event never undoes a newer one.
    public static let defaultYAML = """
        policy:
          - name: email-bounced
            object_types: [email]
            metrics: [bounced]
            actions:
              - identify:
                  email_bounced: true
                  email_bounced_at: $timestamp
                  last_bounce_delivery_id: $data.delivery_id
              - suppress
          - name: email-spammed
            object_types: [email]
            metrics: [spammed]
            actions:
              - identify:
                  spam_complaint: true
                  spam_complaint_at: $timestamp
              - suppress
          - name: unsubscribed
            metrics: [unsubscribed]
            actions:
              - identify:
                  unsubscribed: true
                  unsubscribed_at: $timestamp
                monotonic: true
          - name: resubscribed
            object_types: [customer]
            metrics: [subscribed]
            actions:
              - identify:
                  unsubscribed: false
                  subscribed_at: $timestamp
                monotonic: true
          - name: email-engagement
            object_types: [email]
            metrics: [opened, clicked]
            actions:
              - identify:
                  last_email_engaged_at: $timestamp
                  last_email_metric: $metric
                monotonic: true

        """

    /// The built-in policy, parsed from `defaultYAML` (a test keeps the text valid).
    public static let builtIn: Policy = {
        do {
            return try PolicyParser.parse(yaml: defaultYAML, source: "built-in policy")
        } catch {
            // A constant of this file, not input: failing to parse it is a programming error.
            preconditionFailure("the built-in policy does not parse: \(error)")
        }
    }()
}
