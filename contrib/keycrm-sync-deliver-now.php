<?php
/*
 * Plugin Name: keycrm-sync: WooCommerce webhooks sent right after the answer
 * Description: WooCommerce sends its webhooks at the end of the request that changed the stock, once the customer has the answer, instead of waiting for its job queue. See "Shop → KeyCRM in seconds" in keycrm-sync's README.
 *
 * Copy to wp-content/mu-plugins/. It acts only under php-fpm (fastcgi_finish_request);
 * elsewhere it does nothing, since the customer would wait for the deliveries.
 */
if ( function_exists( 'fastcgi_finish_request' ) ) {
	add_filter( 'woocommerce_webhook_deliver_async', '__return_false' );

	/* WooCommerce delivers at shutdown (wc_webhook_execute_queue, priority 10). */
	add_action( 'shutdown', function () {
		global $wc_queued_webhooks;
		if ( ! empty( $wc_queued_webhooks ) ) {
			fastcgi_finish_request();
		}
	}, 9 );
}
